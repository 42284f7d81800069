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

// The levels, finest first. Day and week rollups are what reports over
// weeks and months read (a 30-day report reads about four weeks and a
// few days per series instead of 30 days); they are kept as long as hour
// rollups. Weeks start on Monday 00:00 UTC.
const (
	Minute Level = iota
	Hour
	Day
	Week
)

// Levels lists every level, finest first.
var Levels = [...]Level{Minute, Hour, Day, Week}

// Packed reports whether stores keep the level's rows packed, one row per
// (bucket, check) holding every vantage (see AppendPack).
func (l Level) Packed() bool { return l >= Day }

// Step is the length of a bucket.
func (l Level) Step() time.Duration {
	switch l {
	case Minute:
		return time.Minute
	case Hour:
		return time.Hour
	case Day:
		return 24 * time.Hour
	default:
		return 7 * 24 * time.Hour
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
	case Day:
		return "day"
	default:
		return "week"
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
		return results.Resolution(l.String())
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
	case "week":
		return Week, nil
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

// Within returns the key of the level-l row that k's bucket falls within.
func (k Key) Within(l Level) Key {
	k.Level, k.Bucket = l, LevelBucket(l, k.Bucket)
	return k
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

// Merge adds o to r, as rollup rows merge: counts add, histograms merge,
// and the newest labels win.
func (r *Row) Merge(o *Row) {
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
	return ApplyDeltas(Deltas(rs), load)
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

// CompareKeys orders keys by level, bucket, check and vantage: the order
// of the stores' rollup tables.
func CompareKeys(a, b Key) int {
	return cmp.Or(
		cmp.Compare(a.Level, b.Level),
		cmp.Compare(a.Bucket, b.Bucket),
		// strings.Compare walks the strings once; cmp.Compare twice.
		strings.Compare(a.Check, b.Check),
		strings.Compare(a.Vantage, b.Vantage),
	)
}
