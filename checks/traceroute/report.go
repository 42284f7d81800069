package traceroute

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/picketnet/picket/results"
)

// WriteReport writes a traceroute record as a table like mtr's report:
// one line per hop with its address, AS, loss and RTTs, then the AS path
// and the outcome.
func WriteReport(w io.Writer, rec results.Result) error {
	var d results.TracerouteDetails
	if len(rec.Details) > 0 {
		if err := rec.DecodeDetails(&d); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "traceroute to %s (%s), mode %s, flow %d\n", rec.Target, rec.Addr, d.Mode, d.FlowID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOP\tADDRESS\tASN\tAS NAME\tLOSS\tSENT\tLAST\tAVG\tBEST\tWORST")
	for _, h := range d.Hops {
		loss := 0.0
		if h.Sent > 0 {
			loss = 100 * float64(h.Sent-len(h.RTTMS)) / float64(h.Sent)
		}
		if h.Addr == "" {
			fmt.Fprintf(tw, "%d\t*\t\t\t%.0f%%\t%d\n", h.TTL, loss, h.Sent)
			continue
		}
		asn, name := "-", ""
		if h.ASN != 0 {
			asn, name = "AS"+strconv.FormatUint(uint64(h.ASN), 10), truncate(h.ASName, 32)
		}
		last, avg, best, worst := rttStats(h.RTTMS)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.0f%%\t%d\t%s\t%s\t%s\t%s\n", h.TTL, h.Addr, asn, name, loss, h.Sent, last, avg, best, worst)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "AS path: %s\n", FormatASPath(d.ASPath))
	switch {
	case rec.OK:
		fmt.Fprintf(w, "reached %s in %d hops, %.1f ms\n", rec.Addr, len(d.Hops), d.RTTMS)
	case rec.Error != nil:
		fmt.Fprintf(w, "not reached: %s\n", rec.Error)
	}
	return nil
}

// FormatASPath writes an AS path as "AS64501 * AS64502", with * for a
// wildcard (silent hops).
func FormatASPath(path []uint32) string {
	if len(path) == 0 {
		return "(none)"
	}
	parts := make([]string, len(path))
	for i, asn := range path {
		if asn == 0 {
			parts[i] = "*"
		} else {
			parts[i] = "AS" + strconv.FormatUint(uint64(asn), 10)
		}
	}
	return strings.Join(parts, " ")
}

func rttStats(rtts []float64) (last, avg, best, worst string) {
	if len(rtts) == 0 {
		return "", "", "", ""
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	sum := 0.0
	for _, v := range rtts {
		sum += v
	}
	return f(rtts[len(rtts)-1]), f(sum / float64(len(rtts))), f(slices.Min(rtts)), f(slices.Max(rtts))
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
