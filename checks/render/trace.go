package render

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/picketnet/picket/results"
)

// Trace writes a traceroute record as a table like mtr's report: one line
// per hop with its address, AS, loss and RTTs, then the AS path and the
// outcome. Like Summary, it writes once.
func Trace(w io.Writer, rec results.Result) error {
	var d results.TracerouteDetails
	if len(rec.Details) > 0 {
		if err := rec.DecodeDetails(&d); err != nil {
			return fmt.Errorf("traceroute details: %w", err)
		}
	}
	if len(d.Hops) == 0 && rec.Error != nil {
		// It failed before the first probe (a name that does not resolve,
		// a denied address): no hop table to show.
		_, err := fmt.Fprintf(w, "traceroute to %s: %s\n", rec.Target, rec.Error)
		return err
	}
	var b bytes.Buffer
	mode := d.Mode
	if d.Port != 0 {
		mode += " port " + strconv.Itoa(d.Port)
	}
	fmt.Fprintf(&b, "traceroute to %s (%s), mode %s, flow %d\n", rec.Target, rec.Addr, mode, d.FlowID)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOP\tADDRESS\tASN\tAS NAME\tLOSS\tSENT\tLAST\tAVG\tBEST\tWORST")
	for _, h := range d.Hops {
		loss := 0.0
		if h.Sent > 0 {
			loss = 100 * float64(h.Sent-len(h.RTTMS)) / float64(h.Sent)
		}
		if h.Addr == "" {
			// Every row has all the cells: a tabwriter aligns a column only
			// over consecutive rows that have it, so a short silent row
			// would shift the RTT columns of the hops after it.
			fmt.Fprintf(tw, "%d\t*\t\t\t%.0f%%\t%d\t\t\t\t\n", h.TTL, loss, h.Sent)
			continue
		}
		asn, name := asCells(h.ASN, h.ASName)
		last, avg, best, worst := rttStats(h.RTTMS)
		addr := h.Addr
		if h.Unreachable != "" {
			addr += " " + h.Unreachable // as traceroute's "198.18.3.2 !X"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.0f%%\t%d\t%s\t%s\t%s\t%s\n", h.TTL, addr, asn, name, loss, h.Sent, last, avg, best, worst)
		// Other routers that answered this TTL (a per-packet load
		// balancer, a path that changed) go on lines of their own below
		// the hop, as mtr shows them; the RTTs above cover them all.
		for _, o := range h.Others {
			asn, name := asCells(o.ASN, o.ASName)
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t\t\t\t\t\t\n", o.Addr, asn, name)
		}
	}
	// A tabwriter over a bytes.Buffer cannot fail.
	_ = tw.Flush()
	trimTrailingSpace(&b)
	fmt.Fprintf(&b, "AS path: %s\n", ASPath(d.ASPath))
	switch {
	case rec.OK:
		hops := "hops"
		if len(d.Hops) == 1 {
			hops = "hop"
		}
		fmt.Fprintf(&b, "reached %s in %d %s, %.1f ms\n", rec.Addr, len(d.Hops), hops, d.RTTMS)
	case rec.Error != nil:
		fmt.Fprintf(&b, "not reached: %s\n", rec.Error)
	}
	_, err := w.Write(printable(b.Bytes()))
	return err
}

// asCells returns the ASN and AS name cells of an address.
func asCells(asn uint32, asName string) (string, string) {
	if asn == 0 {
		return "-", ""
	}
	// AS names come from the network (Team Cymru TXT records): cut them so
	// that one cannot push the columns off screen.
	return "AS" + strconv.FormatUint(uint64(asn), 10), truncate(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) { // a tab would break the columns
			return '\uFFFD'
		}
		return r
	}, asName), 32)
}

// ASPath writes an AS path as "AS64501 * AS64502", with * for a wildcard
// (silent hops).
func ASPath(path []uint32) string {
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
	sum := 0.0
	for _, v := range rtts {
		sum += v
	}
	return ms(rtts[len(rtts)-1]), ms(sum / float64(len(rtts))), ms(slices.Min(rtts)), ms(slices.Max(rtts))
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// trimTrailingSpace removes the padding a tabwriter leaves after the last
// non-empty cell of a row.
func trimTrailingSpace(b *bytes.Buffer) {
	lines := bytes.Split(b.Bytes(), []byte("\n"))
	out := make([]byte, 0, b.Len())
	for i, l := range lines {
		out = append(out, bytes.TrimRight(l, " ")...)
		if i < len(lines)-1 {
			out = append(out, '\n')
		}
	}
	b.Reset()
	b.Write(out)
}
