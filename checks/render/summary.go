package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/picketnet/picket/results"
)

// maxDetailItems bounds how many entries of a list the summary shows: a
// DNS answer or a trace may hold dozens, and the summary is for a glance.
const maxDetailItems = 10

// Summary writes the record for a human: the outcome first, then the
// phases as bars to the same scale, then the kind's details. It writes
// once, so a failed write leaves no half summary behind a success.
func Summary(w io.Writer, r results.Result) error {
	var b bytes.Buffer
	if r.OK {
		fmt.Fprintf(&b, "%s %s: ok\n", r.Kind, r.Target)
	} else {
		// A record read from elsewhere may fail without saying why.
		if r.Error == nil {
			fmt.Fprintf(&b, "%s %s: FAIL\n", r.Kind, r.Target)
		} else {
			fmt.Fprintf(&b, "%s %s: FAIL %s/%s\n", r.Kind, r.Target, r.Error.Layer, r.Error.Code)
			if r.Error.Message != "" {
				fmt.Fprintf(&b, "  %-9s %s\n", "error", r.Error.Message)
			}
		}
	}
	if r.Addr != "" {
		fmt.Fprintf(&b, "  %-9s %s\n", "addr", r.Addr)
	}
	fmt.Fprintf(&b, "  %-9s %s ms\n", "duration", ms(r.DurationMS))
	writePhases(&b, r.Phases)
	writeDetails(&b, r.Details)
	_, err := w.Write(printable(b.Bytes()))
	return err
}

// printable replaces the control characters of text made for a terminal,
// line breaks aside, with U+FFFD. Much of a record comes from the network
// (a certificate's subject, a server's error, an AS name from a TXT
// record): an escape sequence in it must be shown, not obeyed by the
// terminal of whoever runs picket check or picket trace.
func printable(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) {
		return b
	}
	return bytes.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, b)
}

// writePhases draws a waterfall: each phase starts where the one before
// it ended, so the bars show both the share and the order of the time
// spent.
func writePhases(b *bytes.Buffer, ph results.Phases) {
	phases := []struct {
		name string
		ms   float64
	}{
		{"dns", ph.DNSMS}, {"connect", ph.ConnectMS}, {"tls", ph.TLSMS},
		{"ttfb", ph.TTFBMS}, {"transfer", ph.TransferMS},
	}
	total := 0.0
	for _, p := range phases {
		if p.ms > 0 {
			total += p.ms
		}
	}
	const width = 30
	label, elapsed := "phases", 0.0
	for _, p := range phases {
		if !(p.ms > 0) { // also skips NaN, which would draw garbage
			continue
		}
		from := int(math.Round(elapsed / total * width))
		to := max(from+1, int(math.Round((elapsed+p.ms)/total*width)))
		elapsed += p.ms
		fmt.Fprintf(b, "  %-9s %-8s %9s ms  %s%s\n", label, p.name, ms(p.ms), strings.Repeat(" ", from), strings.Repeat("█", to-from))
		label = ""
	}
}

func writeDetails(b *bytes.Buffer, raw json.RawMessage) {
	lines := detailLines(raw)
	keyWidth := 0
	for _, l := range lines {
		keyWidth = max(keyWidth, len(l[0]))
	}
	label := "details"
	for _, l := range lines {
		fmt.Fprintf(b, "  %-9s %-*s  %s\n", label, keyWidth, l[0], l[1])
		label = ""
	}
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// detailLines flattens the details object into key/value lines in the
// order the kind wrote them (a map would lose it): nested objects as
// dotted keys, list items one per line under their key.
func detailLines(raw json.RawMessage) [][2]string {
	var lines [][2]string
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := flatten(dec, "", &lines); err != nil {
		return append(lines, [2]string{"(unreadable)", err.Error()})
	}
	return lines
}

func flatten(dec *json.Decoder, key string, lines *[][2]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := k.(string)
			if key != "" {
				name = key + "." + name
			}
			if err := flatten(dec, name, lines); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	case json.Delim('['):
		n := 0
		for dec.More() {
			var item json.RawMessage
			if err := dec.Decode(&item); err != nil {
				return err
			}
			if n < maxDetailItems {
				k := ""
				if n == 0 {
					k = key
				}
				*lines = append(*lines, [2]string{k, scalar(item)})
			}
			n++
		}
		if n == 0 {
			*lines = append(*lines, [2]string{key, "(none)"})
		} else if n > maxDetailItems {
			*lines = append(*lines, [2]string{"", fmt.Sprintf("... %d more", n-maxDetailItems)})
		}
		_, err := dec.Token()
		return err
	case nil:
		return nil
	}
	*lines = append(*lines, [2]string{key, fmt.Sprint(tok)})
	return nil
}

// scalar renders a list item: strings without quotes, anything else as
// compact JSON.
func scalar(item json.RawMessage) string {
	var s string
	if json.Unmarshal(item, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, item) != nil {
		return string(item)
	}
	return b.String()
}
