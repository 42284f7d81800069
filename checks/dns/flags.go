package dnscheck

import (
	"encoding/json"
	"flag"
)

// BindFlags registers the dns options as flags of `picket check dns NAME`.
// Only the flags given on the command line reach the spec, so the spec's
// defaults stay the single source of defaults.
func (Kind) BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error) {
	var (
		name, qtype, class, resolver, transport, serverName, caFile string
		rcode, contains, regex                                      string
		minAnswers                                                  int
		recurse, dnssec, authoritative                              bool
	)
	fs.StringVar(&name, "name", "", "name to query instead of the target")
	fs.StringVar(&qtype, "type", "A", "query type: A, AAAA, MX, TXT, CAA, SRV, NS, SOA, ... or TYPEnnn")
	fs.StringVar(&class, "class", "IN", "query class: IN, CH, HS")
	fs.StringVar(&resolver, "resolver", "", "resolver as host[:port] (default: the first nameserver of /etc/resolv.conf)")
	fs.StringVar(&transport, "transport", "udp", "udp (up to 3 queries, a third of the timeout apart; TCP on truncation), tcp, or tls (DNS-over-TLS, port 853)")
	fs.StringVar(&serverName, "server-name", "", "name the DoT resolver's certificate must carry (default: the resolver's host)")
	fs.StringVar(&caFile, "ca-file", "", "PEM file of the CAs that sign the DoT resolver's certificate (default: system roots)")
	fs.BoolVar(&recurse, "recursion-desired", true, "set the RD bit")
	fs.BoolVar(&dnssec, "dnssec", false, "set the DO bit (EDNS0) to ask for DNSSEC records")
	fs.StringVar(&rcode, "expect-rcode", "NOERROR", "expected rcode: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...")
	fs.StringVar(&contains, "expect-answer", "", "an answer record must contain this text")
	fs.StringVar(&regex, "expect-answer-regex", "", "an answer record must match this regular expression (RE2)")
	fs.IntVar(&minAnswers, "min-answers", 0, "least number of answers of the query type (default: 1 when the expected rcode is NOERROR, else 0; 0 accepts an empty answer)")
	fs.BoolVar(&authoritative, "authoritative", false, "the answer must be authoritative (AA bit)")

	return func() (json.RawMessage, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		query, expect := map[string]any{}, map[string]any{}
		opts := map[string]any{}
		for flagName, v := range map[string]struct {
			dst   map[string]any
			field string
			value any
		}{
			"name":                {query, "name", name},
			"type":                {query, "type", qtype},
			"class":               {query, "class", class},
			"resolver":            {opts, "resolver", resolver},
			"transport":           {opts, "transport", transport},
			"server-name":         {opts, "server_name", serverName},
			"ca-file":             {opts, "ca_file", caFile},
			"recursion-desired":   {opts, "recursion_desired", recurse},
			"dnssec":              {opts, "dnssec", dnssec},
			"expect-rcode":        {expect, "rcode", rcode},
			"expect-answer":       {expect, "answer_contains", contains},
			"expect-answer-regex": {expect, "answer_regex", regex},
			"min-answers":         {expect, "min_answers", minAnswers},
			"authoritative":       {expect, "authoritative", authoritative},
		} {
			if set[flagName] {
				v.dst[v.field] = v.value
			}
		}
		if len(query) > 0 {
			opts["query"] = query
		}
		if len(expect) > 0 {
			opts["expect"] = expect
		}
		return json.Marshal(opts)
	}
}
