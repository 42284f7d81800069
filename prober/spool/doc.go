// Package spool is the prober's on-disk queue of results that no collector
// has acknowledged yet. It survives kill -9 and, within its fsync policy, a
// reboot.
//
// # Layout
//
// The spool is a directory of append-only segment files named
// "<seq>.seg", oldest first. A segment starts with an 8-byte magic
// ("PKSPOOL1") followed by records:
//
//	u32 length (little endian) | u32 CRC-32C of the body | body
//	body = u8 id length | id | data
//
// Acknowledgements go to a sidecar "<seq>.ack": one 12-byte entry per
// acknowledged record (u64 record offset, u32 CRC-32C of those 8 bytes).
// A segment whose records are all acknowledged is deleted with its sidecar.
// Every Open starts a new segment, so a file left by a crash is never
// appended to again; only when the disk is full does Open carry on with
// the newest segment, and only if it ends with a whole record.
//
// # Durability
//
// Append hands each batch to the kernel with one write(2) before it
// returns, so a result the prober has spooled survives the death of the
// process (kill -9, OOM kill, panic). Segment and acknowledgement files are
// fsynced together every Options.SyncEvery (1s by default) and on Close, so
// a power loss or kernel crash loses at most that window of results. A
// negative SyncEvery fsyncs on every Append, at a large cost in throughput.
// A lost acknowledgement only makes a record be sent again, which the
// collector absorbs: ingest is idempotent on the record id.
//
// # Damage
//
// On Open a record that runs past the end of the last bytes of a file is a
// torn write from a crash: the file is truncated to its last whole record,
// with a warning. A record whose checksum fails with more data after it is
// corruption: the records before it are still delivered, the rest of that
// file is counted as lost and logged as an error. A file without the magic
// header is renamed to "<name>.corrupt" and skipped. Either way the other
// files are delivered normally.
//
// # Bound
//
// Options.MaxBytes bounds the spool's size on disk. When an append would
// exceed it, whole segments are dropped, oldest first, and their
// unacknowledged records are counted in Stats.Dropped.
//
// A full disk (ENOSPC) is met the same way: the append first reuses the
// space of the active segment if every record in it is acknowledged (it
// is emptied in place, acknowledgements first), then drops the oldest
// segments; only when neither frees anything does it fail, and the new
// record is the one lost.
package spool
