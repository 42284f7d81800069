package render

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
)

// Formats of Report.
const (
	Table = "table"
	JSON  = "json"
	CSV   = "csv"
)

// CheckFormat validates a --format value.
func CheckFormat(f string) error {
	switch f {
	case Table, JSON, CSV:
		return nil
	}
	return fmt.Errorf("--format %q: use table, json or csv", f)
}

// ms formats a latency in milliseconds, or none when there is no latency.
func ms(v results.OptionalMS, none string) string {
	if !v.Valid {
		return none
	}
	return strconv.FormatFloat(v.MS, 'f', 1, 64)
}

// Report writes an availability report in format.
func Report(w io.Writer, rep api.Report, format string) error {
	switch format {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case CSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"team", "endpoint", string(rep.By), "results", "failures", "availability_pct", "failed_rounds", "downtime_minutes", "p50_ms", "p95_ms", "p99_ms", "top_error", "top_error_count"})
		for _, r := range rep.Rows {
			_ = cw.Write([]string{csvText(r.Team), csvText(r.Endpoint), csvText(r.Group), itoa(r.Results), itoa(r.Failures), strconv.FormatFloat(r.AvailabilityPct, 'f', 4, 64),
				itoa(r.FailedRounds), itoa(r.DowntimeMinutes), ms(r.P50MS, ""), ms(r.P95MS, ""), ms(r.P99MS, ""), csvText(r.TopError), itoa(r.TopErrorCount)})
		}
		cw.Flush()
		return cw.Error()
	case Table:
		fmt.Fprintf(w, "availability %s .. %s by %s\n", rep.Since.Format(time.RFC3339), rep.Until.Format(time.RFC3339), rep.By)
		if len(rep.Rows) == 0 {
			_, err := fmt.Fprintln(w, "no results in this window")
			return err
		}
		// An operator's report spans teams: then each row says whose it is.
		teams := slices.ContainsFunc(rep.Rows, func(r results.AvailabilityRow) bool { return r.Team != rep.Rows[0].Team })
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		if teams {
			fmt.Fprint(tw, "TEAM\t")
		}
		fmt.Fprintf(tw, "ENDPOINT\t%s\tAVAILABILITY\tRESULTS\tFAILED ROUNDS\tDOWNTIME MIN\tP50 MS\tP95 MS\tP99 MS\t TOP ERROR\t\n", strings.ToUpper(string(rep.By)))
		for _, r := range rep.Rows {
			top := r.TopError
			if top != "" {
				top += " x" + itoa(r.TopErrorCount)
			}
			if teams {
				fmt.Fprint(tw, cell(r.Team)+"\t")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s%%\t%d\t%d\t%d\t%s\t%s\t%s\t %s\t\n", cell(r.Endpoint), cell(r.Group), strconv.FormatFloat(r.AvailabilityPct, 'f', 3, 64),
				r.Results, r.FailedRounds, r.DowntimeMinutes, ms(r.P50MS, "-"), ms(r.P95MS, "-"), ms(r.P99MS, "-"), cell(top))
		}
		return tw.Flush()
	}
	return CheckFormat(format)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// cell makes text that teams, vantages or the network wrote (silence
// reasons, AS names in alert summaries, a prober's last error) safe to
// print on a terminal: a control character, which could be the start of
// an escape sequence that retitles, clears or writes to the clipboard of
// whoever lists it, is shown as U+FFFD; tabs and line breaks, which would
// break the table, as spaces.
func cell(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

// csvText is cell for a CSV field, which a spreadsheet would also read as
// a formula when it starts with =, +, -, @, a tab or a carriage return
// (OWASP's CSV injection): such a field gets a leading single quote.
// Names cannot start so today (they begin with a letter or digit), but
// the report's columns should not depend on it.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return cell(s)
}

// Applied writes the diff of an endpoints apply, one change a line.
func Applied(w io.Writer, a api.Applied) error {
	prefix := ""
	if a.DryRun {
		prefix = "(dry run) "
	}
	for _, c := range a.Changes {
		sign := map[string]string{"create": "+", "update": "~", "delete": "-"}[c.Op]
		line := fmt.Sprintf("%s%s %s %s", prefix, sign, c.Op, c.Name)
		if len(c.Fields) > 0 {
			line += " (" + strings.Join(c.Fields, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
	_, err := fmt.Fprintf(w, "%s%d created, %d updated, %d deleted, %d unchanged\n", prefix,
		count(a, "create"), count(a, "update"), count(a, "delete"), len(a.Unchanged))
	return err
}

func count(a api.Applied, op string) int {
	n := 0
	for _, c := range a.Changes {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Endpoints writes a table of endpoints.
func Endpoints(w io.Writer, eps []results.Endpoint, withTeam bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withTeam {
		fmt.Fprint(tw, "TEAM\t")
	}
	fmt.Fprintln(tw, "NAME\tTARGET\tCHECKS\tREGIONS\tUPDATED")
	for _, e := range eps {
		var kinds []string
		for _, c := range e.Checks {
			var s struct {
				Kind     string `json:"kind"`
				Interval string `json:"interval"`
			}
			_ = json.Unmarshal(c, &s)
			k := s.Kind
			if s.Interval != "" {
				k += "/" + s.Interval
			}
			kinds = append(kinds, k)
		}
		if withTeam {
			fmt.Fprintf(tw, "%s\t", cell(e.Team))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(e.Name), cell(e.Target), cell(strings.Join(kinds, ",")), cell(strings.Join(e.Regions, ",")), e.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// Vantages writes a table of vantages.
func Vantages(w io.Writer, vs []api.VantageStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREGION\tPROVIDER\tASN\tSTATE\tLAST HEARTBEAT\tVERSION\tSPOOL\tRUNNING\tLAST ERROR")
	for _, v := range vs {
		last := "never"
		if !v.LastHeartbeat.IsZero() {
			last = now.Sub(v.LastHeartbeat).Round(time.Second).String() + " ago"
		}
		asn := "-"
		if v.ASN != 0 {
			asn = "AS" + strconv.FormatUint(uint64(v.ASN), 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", cell(v.ID), cell(v.Region), cell(v.Provider), asn, cell(v.State), last, cell(dash(v.Version)), v.SpoolDepth, v.Running,
			dash(oneLine(v.LastError, maxErrorWidth)))
	}
	return tw.Flush()
}

// maxErrorWidth bounds the LAST ERROR column; the API has it whole.
const maxErrorWidth = 160

// oneLine makes s fit one table cell of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(cell(s)), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// Teams writes a table of teams.
func Teams(w io.Writer, ts []results.Team) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\n", cell(t.Name), t.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Alerts writes alerts as a table: state, severity, type, where, since,
// and the summary; a silenced alert says by which silence.
func Alerts(w io.Writer, as []alerting.Alert, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// CHECK tells apart the alerts of one endpoint's checks (its http and
	// its tcp check both page when it is down); a resolved alert says how
	// long it lasted.
	fmt.Fprintln(tw, "STATE\tSEVERITY\tTYPE\tENDPOINT\tCHECK\tREGIONS\tSINCE\tSUMMARY")
	for _, a := range as {
		state := string(a.State)
		if a.Silenced != "" {
			state += " (silenced " + a.Silenced + ")"
		}
		since := now.Sub(a.StartsAt).Round(time.Second).String() + " ago"
		if a.State == alerting.StateResolved {
			since = fmt.Sprintf("resolved %s ago, lasted %s", now.Sub(a.ResolvedAt).Round(time.Second),
				a.ResolvedAt.Sub(a.StartsAt).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(state), cell(string(a.Severity)), cell(string(a.Type)), cell(dash(a.Endpoint)), cell(dash(a.Check)),
			cell(dash(strings.Join(a.Regions, ","))), since, cell(a.Summary))
	}
	return tw.Flush()
}

// Silences writes silences as a table; withTeam adds the team column, for
// the admin, who sees every team's.
func Silences(w io.Writer, ss []alerting.Silence, withTeam bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withTeam {
		fmt.Fprint(tw, "TEAM\t")
	}
	fmt.Fprintln(tw, "ID\tENDPOINT\tTYPE\tVANTAGE\tSTARTS\tENDS\tREASON")
	for _, s := range ss {
		if withTeam {
			fmt.Fprintf(tw, "%s\t", cell(s.Team))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(s.ID), cell(dash(s.Endpoint)), cell(dash(string(s.Type))), cell(dash(s.Vantage)),
			s.StartsAt.UTC().Format(time.RFC3339), s.EndsAt.UTC().Format(time.RFC3339), cell(s.Reason))
	}
	return tw.Flush()
}
