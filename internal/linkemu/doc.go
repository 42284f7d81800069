// Package linkemu emulates a network link in user space, because the
// kernel the tests run on has no netem qdisc. A Link joins two network
// namespaces with a TUN device in each: IP packets that one side sends into
// its device are read by the emulator, delayed, dropped at random, and
// written into the other side's device. Delay, jitter and loss change while
// traffic flows, which is how the end-to-end lab injects slow or lossy
// paths.
//
// Packets of one direction keep their order: jitter spreads delivery times
// but never reorders, as on a real serial link.
package linkemu
