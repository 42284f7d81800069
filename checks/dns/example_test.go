package dnscheck_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks"
	dnscheck "github.com/picketnet/picket/checks/dns"
	"github.com/picketnet/picket/results"
)

// A check of the MX record of example.test against a resolver on
// loopback, as `picket check dns example.test --type MX --resolver ADDR
// --expect-answer-regex 'MX 10 mail\.'` runs it.
func Example() {
	// A resolver that knows one MX record.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetReply(req)
		if req.Question[0].Name == "example.test." && req.Question[0].Qtype == dns.TypeMX {
			rr, _ := dns.NewRR("example.test. 300 IN MX 10 mail.example.test.")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	defer srv.Shutdown()

	reg := checks.NewRegistry(dnscheck.Kind{})
	for _, name := range []string{"example.test", "nope.test"} {
		spec := fmt.Sprintf(`{"kind":"dns","timeout":"2s","resolver":%q,
			"query":{"type":"MX"},"expect":{"answer_regex":"MX 10 mail\\."}}`, pc.LocalAddr())
		parsed, err := reg.Parse(name, json.RawMessage(spec))
		if err != nil {
			panic(err)
		}
		r := parsed.Check.Run(context.Background(), checks.Env{})
		var d results.DNSDetails
		_ = r.DecodeDetails(&d)
		fmt.Println(name, r.OK, r.Error, d.Rcode, d.Answers)
	}
	// Output:
	// example.test true <nil> NOERROR [example.test. 300 IN MX 10 mail.example.test.]
	// nope.test false dns/nxdomain: nope.test MX: rcode NXDOMAIN, expected NOERROR NXDOMAIN []
}
