package rollup

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// Ingest does not update rollup rows: it appends the batch's minute
// deltas (the rollup of the batch's new results alone, per check, vantage
// and minute) in one blob, in the same transaction as the raw results.
// Compaction later folds pending deltas into the minute, hour and day rows
// with ApplyDeltas, many batches at once, so that an hour or day row is
// rewritten once per compaction instead of once per batch. Until then,
// reads add the pending deltas to what is stored (AddPending, ApplyDeltas
// without writing), so reports and rollups stay exact whenever compaction
// runs.

var errDeltas = errors.New("rollup: corrupt deltas")

// Deltas returns the minute rows of rs alone: counts, failures, errors and
// latencies, without the failed and down minute state, which depends on
// what is stored. Rows are in key order.
//
// A failure here is a result that is down (results.Result.Down): a
// tls/cert_expiring warning counts as a result, with its latency, but not
// as a failure, nor in Errors, so that availability, failed rounds, down
// minutes and the top error of a report all describe outages alone and
// agree with each other.
func Deltas(rs []results.Result) []*Row {
	minutes := make(map[Key]*Row, len(rs))
	// The rows are made in one allocation: they live and die together.
	// There are at most len(rs) of them, so appending never moves the
	// rows that out points to.
	slab := make([]Row, 0, len(rs))
	var out []*Row
	for i := range rs {
		r := &rs[i]
		k := Key{Level: Minute, Bucket: r.StartedAt.Unix() - mod(r.StartedAt.Unix(), 60), Check: r.Check, Vantage: r.Vantage}
		d := minutes[k]
		if d == nil {
			slab = append(slab, Row{Key: k})
			d = &slab[len(slab)-1]
			minutes[k] = d
			out = append(out, d)
		}
		d.Count++
		if r.Down() {
			d.Failures++
			code := "internal/unknown"
			if r.Error != nil {
				code = string(r.Error.Layer) + "/" + string(r.Error.Code)
			}
			if d.Errors == nil {
				d.Errors = make(map[string]int64, 1)
			}
			d.Errors[code]++
		}
		if ms, ok := r.Latency(); ok {
			d.Hist.Observe(ms)
		}
		d.Team, d.Endpoint, d.Kind = r.Team, r.Endpoint, r.Kind
		d.Region, d.Provider, d.ASN = r.Region, r.Provider, r.ASN
	}
	slices.SortFunc(out, func(a, b *Row) int { return CompareKeys(a.Key, b.Key) })
	return out
}

// AppendDeltas appends the binary form of minute deltas to b. Each entry:
// bucket (varint), check, vantage, team, endpoint, kind, region, provider
// (uvarint length + bytes), uvarints asn, count, failures, then the
// EncodeErrors form and the histogram binary form (length + bytes).
func AppendDeltas(b []byte, rows []*Row) ([]byte, error) {
	b = slices.Grow(b, 128*len(rows)) // the size of a row's names and a few latencies
	var scratch []byte
	for _, r := range rows {
		b = binary.AppendVarint(b, r.Bucket)
		for _, s := range []string{r.Check, r.Vantage, r.Team, r.Endpoint, r.Kind, r.Region, r.Provider} {
			b = appendString(b, s)
		}
		b = binary.AppendUvarint(b, uint64(r.ASN))
		b = binary.AppendUvarint(b, uint64(r.Count))
		b = binary.AppendUvarint(b, uint64(r.Failures))
		b = appendString(b, EncodeErrors(r.Errors))
		var err error
		if scratch, err = r.Hist.AppendBinary(scratch[:0]); err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(scratch)))
		b = append(b, scratch...)
	}
	return b, nil
}

// DecodeDeltas reads what AppendDeltas wrote, appending the rows to out.
// The rows' names repeat from row to row and from batch to batch: they
// are taken from names, and added to it.
func DecodeDeltas(out []*Row, b []byte, names *intern.Strings) ([]*Row, error) {
	p := packReader{b: b}
	for p.err == nil && len(p.b) > 0 {
		bucket, n := binary.Varint(p.b)
		if n <= 0 {
			return out, errDeltas
		}
		p.b = p.b[n:]
		var s [7]string
		for i := range s {
			s[i] = names.Field(i, p.bytes())
		}
		r := &Row{Key: Key{Level: Minute, Bucket: bucket, Check: s[0], Vantage: s[1]},
			Team: s[2], Endpoint: s[3], Kind: s[4], Region: s[5], Provider: s[6]}
		r.ASN = uint32(p.uvarint())
		r.Count = int64(p.uvarint())
		r.Failures = int64(p.uvarint())
		errs, hist := p.bytes(), p.bytes()
		if p.err != nil {
			return out, errDeltas
		}
		var err error
		if r.Errors, err = DecodeErrorMap(string(errs)); err != nil {
			return out, err
		}
		if err := r.Hist.UnmarshalBinary(hist); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	if p.err != nil {
		return out, errDeltas
	}
	return out, nil
}

// mergeDeltas sums deltas of the same key, in order, so that the labels
// of the newest win. It merges into the first delta of each key.
func mergeDeltas(deltas []*Row) map[Key]*Row {
	minutes := make(map[Key]*Row, len(deltas))
	for _, d := range deltas {
		if m := minutes[d.Key]; m != nil {
			m.Merge(d)
		} else {
			minutes[d.Key] = d
		}
	}
	return minutes
}

// ApplyDeltas is Apply for minute deltas (from Deltas, possibly of several
// batches, oldest first): it returns the new full contents of every
// minute, hour and day row they touch. It takes the deltas over: they
// may be changed, and become rows of the result.
func ApplyDeltas(deltas []*Row, load Loader) ([]*Row, error) {
	if len(deltas) == 0 {
		return nil, nil
	}
	minutes := mergeDeltas(deltas)
	// Coarser keys, and every key to load.
	coarse := make(map[Key]*Row)
	keys := make([]Key, 0, len(minutes)*3)
	for k := range minutes {
		keys = append(keys, k)
		for _, l := range Levels[1:] {
			ck := k.Within(l)
			if _, ok := coarse[ck]; !ok {
				coarse[ck] = nil
				keys = append(keys, ck)
			}
		}
	}
	slices.SortFunc(keys, CompareKeys)
	stored, err := load(keys)
	if err != nil {
		return nil, err
	}
	out := make([]*Row, 0, len(keys))
	// Minutes first: their state change feeds the coarser rows.
	for _, k := range keys {
		if k.Level != Minute {
			continue
		}
		d := minutes[k]
		old := stored[k]
		if old == nil {
			// A new minute: the delta is the row, and also what the
			// coarser rows gain.
			d.FailedMinutes, d.DownMinutes = state(d.Count, d.Failures)
			out = append(out, d)
		} else {
			nw := &Row{Key: k}
			nw.Merge(old)
			wasFailed, wasDown := state(old.Count, old.Failures)
			nw.Merge(d)
			nw.FailedMinutes, nw.DownMinutes = state(nw.Count, nw.Failures)
			out = append(out, nw)
			// d becomes the delta for the coarser levels.
			d.FailedMinutes = nw.FailedMinutes - wasFailed
			d.DownMinutes = nw.DownMinutes - wasDown
		}
		for _, l := range Levels[1:] {
			ck := k.Within(l)
			c := coarse[ck]
			if c == nil {
				c = &Row{Key: ck}
				if old := stored[ck]; old != nil {
					c.Merge(old)
				}
				coarse[ck] = c
			}
			c.Merge(d)
		}
	}
	for _, k := range keys {
		if k.Level != Minute {
			out = append(out, coarse[k])
		}
	}
	return out, nil
}

// AddPending folds pending minute deltas (oldest first, already limited
// to the report's window, team and endpoint) into the report: what they
// add to the stored rollups. load must return the stored minute rows of
// the keys it is given, from the same snapshot as the stored rows the
// report read, since whether a delta makes a minute failed or down
// depends on what the minute already held.
func (r *Report) AddPending(deltas []*Row, load Loader) error {
	if len(deltas) == 0 {
		return nil
	}
	minutes := mergeDeltas(deltas)
	keys := make([]Key, 0, len(minutes))
	for k := range minutes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, CompareKeys)
	stored, err := load(keys)
	if err != nil {
		return err
	}
	var hist []byte
	for _, k := range keys {
		d := minutes[k]
		var wasFailed, wasDown int64
		count, failures := d.Count, d.Failures
		if old := stored[k]; old != nil {
			wasFailed, wasDown = state(old.Count, old.Failures)
			count += old.Count
			failures += old.Failures
		}
		failed, down := state(count, failures)
		if hist, err = d.Hist.AppendBinary(hist[:0]); err != nil {
			return err
		}
		row := ReportRow{Team: d.Team, Endpoint: d.Endpoint, Check: d.Check, Vantage: d.Vantage,
			Region: d.Region, Provider: d.Provider, ASN: d.ASN, Count: d.Count, Failures: d.Failures,
			FailedMinutes: failed - wasFailed, DownMinutes: down - wasDown,
			Errors: []byte(EncodeErrors(d.Errors)), Hist: hist}
		if err := r.Add(&row); err != nil {
			return err
		}
	}
	return nil
}

// Overlay applies pending deltas to stored rollups of level l for a read
// and returns what the read answers: stored holds the rows the query
// found; the rows the deltas change replace them, and keep reports
// whether a changed row matches the query's filters beyond its key. The
// result is in key order.
func Overlay(l Level, stored []*Row, deltas []*Row, load Loader, keep func(*Row) bool) ([]results.Rollup, error) {
	rows := stored
	if len(deltas) > 0 {
		changed, err := ApplyDeltas(deltas, load)
		if err != nil {
			return nil, err
		}
		byKey := make(map[Key]*Row, len(stored))
		for _, r := range stored {
			byKey[r.Key] = r
		}
		for _, r := range changed {
			if r.Level != l {
				continue
			}
			if keep(r) {
				byKey[r.Key] = r
			} else {
				delete(byKey, r.Key)
			}
		}
		rows = slices.SortedFunc(maps.Values(byKey), func(a, b *Row) int { return CompareKeys(a.Key, b.Key) })
	}
	out := make([]results.Rollup, len(rows))
	for i, r := range rows {
		out[i] = r.Rollup()
	}
	return out, nil
}

// LevelBucket is the start (Unix seconds) of the level-l bucket holding
// the instant m (Unix seconds), as Level.Truncate: weeks start on Monday,
// and the Unix epoch was a Thursday, 4 days after one.
func LevelBucket(l Level, m int64) int64 {
	var off int64
	if l == Week {
		off = 4 * 86400
	}
	return m - mod(m-off, int64(l.Step()/time.Second))
}

// RollUp returns the rows of level to that rows of level from add up to,
// each added to its stored row (load). Stores use it to derive week rows
// when day rows are written directly (LoadRollups), which presumes that
// the day rows were not stored before.
func RollUp(rows []*Row, from, to Level, load Loader) ([]*Row, error) {
	sums := make(map[Key]*Row)
	var keys []Key
	for _, r := range rows {
		if r.Level != from {
			continue
		}
		k := r.Key
		k.Level = to
		k.Bucket = LevelBucket(to, r.Bucket)
		s := sums[k]
		if s == nil {
			s = &Row{Key: k}
			sums[k] = s
			keys = append(keys, k)
		}
		s.Merge(r)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.SortFunc(keys, CompareKeys)
	stored, err := load(keys)
	if err != nil {
		return nil, err
	}
	out := make([]*Row, 0, len(keys))
	for _, k := range keys {
		r := &Row{Key: k}
		if old := stored[k]; old != nil {
			r.Merge(old)
		}
		r.Merge(sums[k])
		out = append(out, r)
	}
	return out, nil
}

// ApplyMinutesHours is ApplyDeltas for the rows a compaction writes when
// coarser rollups are derived from hour rows later (as both stores do): it
// returns the new full contents of every minute and hour row that deltas
// (of several batches, oldest first) touch, minutes first, each level in
// CompareKeys order, so that new rows are appended to a table's tree
// rather than splitting its pages. Skipping day and week rows, and the
// sorting of every key, is more than half of what ApplyDeltas costs. It
// takes the deltas over: they become rows of the result.
func ApplyMinutesHours(deltas []*Row, load Loader) ([]*Row, error) {
	if len(deltas) == 0 {
		return nil, nil
	}
	// Sum the deltas of one minute, in order, so that the newest labels
	// win, as in ApplyDeltas.
	byKey := make(map[Key]*Row, len(deltas))
	minutes := make([]*Row, 0, len(deltas))
	hours := make(map[Key]*Row, len(deltas)/2)
	keys := make([]Key, 0, len(deltas)+len(deltas)/8)
	for _, d := range deltas {
		if m := byKey[d.Key]; m != nil {
			m.Merge(d)
			continue
		}
		byKey[d.Key] = d
		minutes = append(minutes, d)
		keys = append(keys, d.Key)
		hk := d.Key.Within(Hour)
		if _, ok := hours[hk]; !ok {
			hours[hk] = nil
			keys = append(keys, hk)
		}
	}
	stored, err := load(keys)
	if err != nil {
		return nil, err
	}
	// By time first, so that an hour row takes the labels of its latest
	// minute.
	slices.SortFunc(minutes, func(a, b *Row) int { return CompareKeys(a.Key, b.Key) })
	out := make([]*Row, 0, len(minutes)+len(hours))
	var hourRows []*Row
	for _, d := range minutes {
		if old := stored[d.Key]; old == nil {
			// A new minute: the delta is the row, and also what its hour
			// gains.
			d.FailedMinutes, d.DownMinutes = state(d.Count, d.Failures)
			out = append(out, d)
		} else {
			nw := &Row{Key: d.Key}
			nw.Merge(old)
			nw.Merge(d)
			nw.FailedMinutes, nw.DownMinutes = state(nw.Count, nw.Failures)
			wasFailed, wasDown := state(old.Count, old.Failures)
			out = append(out, nw)
			// d becomes what the hour gains.
			d.FailedMinutes, d.DownMinutes = nw.FailedMinutes-wasFailed, nw.DownMinutes-wasDown
		}
		hk := d.Key.Within(Hour)
		h := hours[hk]
		if h == nil {
			h = &Row{Key: hk}
			if old := stored[hk]; old != nil {
				h.Merge(old)
			}
			hours[hk] = h
			hourRows = append(hourRows, h)
		}
		h.Merge(d)
	}
	slices.SortFunc(hourRows, func(a, b *Row) int { return CompareKeys(a.Key, b.Key) })
	return append(out, hourRows...), nil
}

// DeltaFilter selects the pending deltas a read adds to what is stored.
type DeltaFilter struct {
	Team, Endpoint, Check, Vantage string // "" matches any
	Level                          Level
	Since, Until                   int64 // level buckets [Since, Until)
	HasSince, HasUntil             bool
}

// RollupFilter selects the deltas of the rows q asks for at level l.
func RollupFilter(l Level, q results.RollupQuery) DeltaFilter {
	f := DeltaFilter{Team: q.Team, Endpoint: q.Endpoint, Check: q.Check, Vantage: q.Vantage, Level: l}
	if !q.Since.IsZero() {
		f.Since, f.HasSince = l.Truncate(q.Since).Unix(), true
	}
	if !q.Until.IsZero() {
		f.Until, f.HasUntil = q.Until.Unix(), true
	}
	return f
}

// Match reports whether f selects d.
func (f *DeltaFilter) Match(d *Row) bool {
	if (f.Team != "" && d.Team != f.Team) || (f.Endpoint != "" && d.Endpoint != f.Endpoint) ||
		(f.Check != "" && d.Check != f.Check) || (f.Vantage != "" && d.Vantage != f.Vantage) {
		return false
	}
	b := LevelBucket(f.Level, d.Bucket)
	return (!f.HasSince || b >= f.Since) && (!f.HasUntil || b < f.Until)
}
