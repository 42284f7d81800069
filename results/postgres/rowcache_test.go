package postgres

import (
	"fmt"
	"math"
	"testing"

	"github.com/picketnet/picket/results/rollup"
)

// Compaction's copy of minute rows holds the newest two minutes, and
// none rather than more than minuteCacheMax rows; rows it holds already
// do not count twice.
func TestRowCacheMinutes(t *testing.T) {
	minute := func(bucket int64, vantage string) *rollup.Row {
		return &rollup.Row{Key: rollup.Key{Level: rollup.Minute, Bucket: bucket, Check: "c", Vantage: vantage}}
	}
	minutes := func(bucket int64, n int) []*rollup.Row {
		rows := make([]*rollup.Row, n)
		for i := range rows {
			rows[i] = minute(bucket, fmt.Sprint(i))
		}
		return rows
	}
	c := rowCache{valid: true, rows: map[rollup.Key]cachedHour{}, minutes: map[rollup.Key]*rollup.Row{}, newestMinute: math.MinInt64}

	c.committed([]*rollup.Row{minute(0, "a"), minute(60, "a"), minute(120, "a")}, nil)
	for _, tc := range []struct {
		bucket int64
		held   bool
	}{{0, false}, {60, true}, {120, true}} {
		if got := c.minute(minute(tc.bucket, "a").Key) != nil; got != tc.held {
			t.Errorf("minute %d held: %v, want %v", tc.bucket, got, tc.held)
		}
	}

	c.committed(minutes(300, minuteCacheMax-1), nil)
	if len(c.minutes) != minuteCacheMax-1 {
		t.Fatalf("%d minute rows held, want %d", len(c.minutes), minuteCacheMax-1)
	}
	// The same rows rewritten, and one more: at the bound, all held.
	c.committed(minutes(300, minuteCacheMax), nil)
	if len(c.minutes) != minuteCacheMax {
		t.Fatalf("%d minute rows held, want %d", len(c.minutes), minuteCacheMax)
	}
	// One more still: none held.
	c.committed(minutes(300, minuteCacheMax+1), nil)
	if len(c.minutes) != 0 || c.minute(minute(300, "0").Key) != nil {
		t.Errorf("past the bound, %d minute rows held", len(c.minutes))
	}
	// An invalid cache answers nothing.
	c.committed([]*rollup.Row{minute(300, "a")}, nil)
	c.valid = false
	if c.minute(minute(300, "a").Key) != nil {
		t.Error("an invalid cache answered")
	}
}
