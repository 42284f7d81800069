package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/results/rollup"
)

// Compaction rewrites the hour row of every series it touches, and
// reading them back first cost as much as writing them. The compacting
// process keeps the hour rows of the last hours it wrote instead, and
// trusts them only while nobody else wrote hour rows: every writer of
// hour rows (compaction, LoadRollups, retention) adds one to
// rollup_derived.hour_writes in its transaction, and a compaction that
// finds another count than the one it left drops its cache. Another
// replica's compaction, or this process losing the lock for a while, so
// costs one read of the hour rows, never a wrong one.
//
// It keeps the minute rows of the newest two minutes it wrote too, on
// the same terms (every writer of minute rows counts as one of hour
// rows): a series probed more often than once a minute has its minute
// row rewritten by the next compactions, and each looked it up first.
const hourWritesMigration = `ALTER TABLE rollup_derived ADD COLUMN hour_writes bigint NOT NULL DEFAULT 0`

// hourCacheSpan is how far back from the newest hour the cache keeps rows.
const hourCacheSpan = 2 * 3600

// minuteCacheMax bounds the minute rows the cache keeps. Where series
// are probed once a minute or less, their minute rows are hardly ever
// rewritten, and there are too many to keep.
const minuteCacheMax = 250_000

// rowCache is the compacting process's copy of recent hour and minute
// rows; the compaction lock (Store.cmu) guards it.
type rowCache struct {
	valid  bool
	writes int64 // hour_writes when the cache was last right
	// complete is the newest hour that had rows when the cache started:
	// of later hours, every row is in rows.
	complete int64
	rows     map[rollup.Key]cachedHour
	// minutes are rows of the newest two minutes written; a minute row
	// not there may be stored all the same.
	minutes      map[rollup.Key]*rollup.Row
	newestMinute int64
}

type cachedHour struct {
	row  *rollup.Row
	mask *int64
}

// begin locks rollup_derived for the compaction transaction and checks
// the cache against it, emptying it if someone else wrote hour rows.
func (c *rowCache) begin(ctx context.Context, tx pgx.Tx) error {
	var writes int64
	var newest *int64
	if err := tx.QueryRow(ctx, `SELECT hour_writes, (SELECT extract(epoch FROM max(bucket))::bigint FROM rollup_hour)
		FROM rollup_derived FOR UPDATE`).Scan(&writes, &newest); err != nil {
		return fmt.Errorf("hour cache: %w", err)
	}
	if c.valid && c.writes == writes {
		return nil
	}
	c.valid, c.writes, c.rows = true, writes, make(map[rollup.Key]cachedHour)
	c.minutes, c.newestMinute = make(map[rollup.Key]*rollup.Row), math.MinInt64
	c.complete = math.MinInt64
	if newest != nil {
		c.complete = *newest
	}
	return nil
}

// lookup returns the cached row of k and its minutes, and whether the
// cache knows the answer (a row, or that there is none).
func (c *rowCache) lookup(k rollup.Key) (cachedHour, bool) {
	if !c.valid {
		return cachedHour{}, false
	}
	h, ok := c.rows[k]
	return h, ok || k.Bucket > c.complete
}

// minute returns the cached minute row of k, nil if the cache does not
// hold it.
func (c *rowCache) minute(k rollup.Key) *rollup.Row {
	if !c.valid {
		return nil
	}
	return c.minutes[k]
}

// committed records the hour and minute rows a committed compaction
// wrote, and forgets the hours far behind the newest and the minutes
// before the newest two.
func (c *rowCache) committed(rows []*rollup.Row, masks map[rollup.Key]*int64) {
	c.writes++
	c.keepMinutes(rows)
	newest := int64(math.MinInt64)
	for _, r := range rows {
		if r.Level == rollup.Hour {
			c.rows[r.Key] = cachedHour{r, masks[r.Key]}
			newest = max(newest, r.Bucket)
		}
	}
	if newest == math.MinInt64 {
		return
	}
	for k := range c.rows {
		if k.Bucket < newest-hourCacheSpan {
			delete(c.rows, k)
		}
	}
	// Forgotten hours are no longer complete in the cache.
	c.complete = max(c.complete, newest-hourCacheSpan-1)
}

// keepMinutes keeps the minute rows of the newest two minutes among
// rows and those kept before, unless they would be more than
// minuteCacheMax: then it keeps none, without adding them first.
func (c *rowCache) keepMinutes(rows []*rollup.Row) {
	for _, r := range rows {
		if r.Level == rollup.Minute {
			c.newestMinute = max(c.newestMinute, r.Bucket)
		}
	}
	for k := range c.minutes {
		if k.Bucket < c.newestMinute-60 {
			delete(c.minutes, k)
		}
	}
	kept := func(r *rollup.Row) bool { return r.Level == rollup.Minute && r.Bucket >= c.newestMinute-60 }
	added := 0
	for _, r := range rows {
		if _, ok := c.minutes[r.Key]; !ok && kept(r) {
			added++
		}
	}
	if len(c.minutes)+added > minuteCacheMax {
		clear(c.minutes)
		return
	}
	for _, r := range rows {
		if kept(r) {
			c.minutes[r.Key] = r
		}
	}
}

// bumpHourWrites counts a transaction's writes of hour rows; every writer
// of them calls it.
func bumpHourWrites(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `UPDATE rollup_derived SET hour_writes = hour_writes + 1`)
	return err
}
