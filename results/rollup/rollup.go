package rollup

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// Level is a rollup resolution.
type Level int

// The levels, finest first. Day rollups are what reports over weeks and
// months read; they are kept as long as hour rollups.
const (
	Minute Level = iota
	Hour
	Day
)

// Levels lists every level, finest first.
var Levels = [...]Level{Minute, Hour, Day}

// Step is the length of a bucket.
func (l Level) Step() time.Duration {
	switch l {
	case Minute:
		return time.Minute
	case Hour:
		return time.Hour
	default:
		return 24 * time.Hour
	}
}

// Truncate returns the start of t's bucket, in UTC.
func (l Level) Truncate(t time.Time) time.Time { return t.UTC().Truncate(l.Step()) }

// String is the level's name, also the suffix of its table.
func (l Level) String() string {
	switch l {
	case Minute:
		return "minute"
	case Hour:
		return "hour"
	default:
		return "day"
	}
}

// Resolution maps a level to the results API's name for it.
func (l Level) Resolution() results.Resolution {
	switch l {
	case Minute:
		return results.Minute
	case Hour:
		return results.Hour
	default:
		return "day"
	}
}

// LevelOf maps a results.Resolution to its level.
func LevelOf(r results.Resolution) (Level, error) {
	switch r {
	case results.Minute, "":
		return Minute, nil
	case results.Hour:
		return Hour, nil
	case "day":
		return Day, nil
	}
	return 0, fmt.Errorf("unknown rollup resolution %q", r)
}

// Key identifies a rollup row.
type Key struct {
	Level   Level
	Bucket  int64 // Unix seconds of the bucket start
	Check   string
	Vantage string
}

// Row is one rollup row: the results of one (check, vantage) in one bucket.
type Row struct {
	Key
	Team, Endpoint, Kind string
	Region, Provider     string
	ASN                  uint32
	Count, Failures      int64
	// FailedMinutes and DownMinutes count the failed rounds and down
	// minutes (see the package doc) in the bucket: 0 or 1 for a minute.
	FailedMinutes, DownMinutes int64
	// Errors counts failures by "layer/code".
	Errors map[string]int64
	Hist   results.Histogram
}

// Time is the bucket start.
func (r *Row) Time() time.Time { return time.Unix(r.Bucket, 0).UTC() }

// Rollup converts the row to the results API type.
func (r *Row) Rollup() results.Rollup {
	return results.Rollup{
		Bucket: r.Time(), Resolution: r.Level.Resolution(),
		Team: r.Team, Endpoint: r.Endpoint, Check: r.Check, Kind: r.Kind,
		Vantage: r.Vantage, Region: r.Region, Provider: r.Provider, ASN: r.ASN,
		Count: r.Count, Failures: r.Failures,
		FailuresByCode: maps.Clone(r.Errors), Latency: r.Hist,
	}
}

func (r *Row) merge(o *Row) {
	r.Count += o.Count
	r.Failures += o.Failures
	r.FailedMinutes += o.FailedMinutes
	r.DownMinutes += o.DownMinutes
	for k, n := range o.Errors {
		if r.Errors == nil {
			r.Errors = make(map[string]int64, len(o.Errors))
		}
		r.Errors[k] += n
	}
	r.Hist.Merge(o.Hist)
	// The newest result's labels win: a vantage may have moved region.
	r.Team, r.Endpoint, r.Kind = o.Team, o.Endpoint, o.Kind
	r.Region, r.Provider, r.ASN = o.Region, o.Provider, o.ASN
}

// EncodeErrors writes a failure map as "layer/code=n,..." in key order;
// layers and codes are snake_case words, so neither separator occurs.
func EncodeErrors(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(m[k], 10))
	}
	return b.String()
}

// DecodeErrors reads what EncodeErrors wrote, calling fn for each entry.
func DecodeErrors(s string, fn func(code string, n int64)) error {
	for s != "" {
		var item string
		item, s, _ = strings.Cut(s, ",")
		code, num, ok := strings.Cut(item, "=")
		n, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || code == "" {
			return fmt.Errorf("rollup errors: bad entry %q", item)
		}
		fn(code, n)
	}
	return nil
}

// DecodeErrorMap reads what EncodeErrors wrote into a map.
func DecodeErrorMap(s string) (map[string]int64, error) {
	if s == "" {
		return nil, nil
	}
	m := make(map[string]int64)
	err := DecodeErrors(s, func(code string, n int64) { m[code] += n })
	return m, err
}

// Loader returns the stored rows of the given keys; keys without a row are
// absent from the map.
type Loader func(keys []Key) (map[Key]*Row, error)

// Apply computes the rollup rows that change when rs (results just stored,
// never seen before) are added: the new full contents of every minute,
// hour and day row they touch, to be written over the stored ones in the
// same transaction. load reads the stored rows; the caller must keep other
// writers of the same rows out until it commits (SQLite has one writer,
// Postgres takes a per-vantage transaction lock).
func Apply(rs []results.Result, load Loader) ([]*Row, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	// The batch's own minute deltas.
	minutes := make(map[Key]*Row)
	for i := range rs {
		r := &rs[i]
		k := Key{Level: Minute, Bucket: r.StartedAt.Unix() - mod(r.StartedAt.Unix(), 60), Check: r.Check, Vantage: r.Vantage}
		d := minutes[k]
		if d == nil {
			d = &Row{Key: k}
			minutes[k] = d
		}
		d.Count++
		if !r.OK {
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
		d.Hist.Observe(r.DurationMS)
		d.Team, d.Endpoint, d.Kind = r.Team, r.Endpoint, r.Kind
		d.Region, d.Provider, d.ASN = r.Region, r.Provider, r.ASN
	}
	// Coarser keys, and every key to load.
	coarse := make(map[Key]*Row)
	keys := make([]Key, 0, len(minutes)*3)
	for k := range minutes {
		keys = append(keys, k)
		for _, l := range Levels[1:] {
			ck := k
			ck.Level = l
			ck.Bucket = k.Bucket - mod(k.Bucket, int64(l.Step()/time.Second))
			if _, ok := coarse[ck]; !ok {
				coarse[ck] = nil
				keys = append(keys, ck)
			}
		}
	}
	slices.SortFunc(keys, compareKeys)
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
		nw := &Row{Key: k}
		var wasFailed, wasDown int64
		if old != nil {
			nw.merge(old)
			wasFailed, wasDown = state(old.Count, old.Failures)
		}
		nw.merge(d)
		nw.FailedMinutes, nw.DownMinutes = state(nw.Count, nw.Failures)
		out = append(out, nw)
		// d becomes the delta for the coarser levels.
		d.FailedMinutes = nw.FailedMinutes - wasFailed
		d.DownMinutes = nw.DownMinutes - wasDown
		for _, l := range Levels[1:] {
			ck := k
			ck.Level = l
			ck.Bucket = k.Bucket - mod(k.Bucket, int64(l.Step()/time.Second))
			c := coarse[ck]
			if c == nil {
				c = &Row{Key: ck}
				if old := stored[ck]; old != nil {
					c.merge(old)
				}
				coarse[ck] = c
			}
			c.merge(d)
		}
	}
	for _, k := range keys {
		if k.Level != Minute {
			out = append(out, coarse[k])
		}
	}
	return out, nil
}

func state(count, failures int64) (failed, down int64) {
	if failures > 0 {
		failed = 1
	}
	if 2*failures > count {
		down = 1
	}
	return failed, down
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func compareKeys(a, b Key) int {
	return cmp.Or(
		cmp.Compare(a.Level, b.Level),
		cmp.Compare(a.Bucket, b.Bucket),
		cmp.Compare(a.Check, b.Check),
		cmp.Compare(a.Vantage, b.Vantage),
	)
}
