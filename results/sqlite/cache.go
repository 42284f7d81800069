package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"

	"github.com/picketnet/picket/results/rollup"
)

// rollupCache remembers the recent rollup rows the writer wrote, so that
// ingest merges new results into them without reading them back. It is
// exact, not a guess: this process is the only writer of the file, every
// write since Open passes through it, and a row it does not hold is either
// older than floor (then read from the database) or newer than anything
// the file held at Open and not written since (then it does not exist).
// Only the writers of rollup rows, under cmu, use it.
type rollupCache struct {
	rows  map[rollup.Key]*rollup.Row
	packs map[packKey][]*rollup.Row
	// hwm is the newest bucket of each level in the file at Open.
	hwm [len(rollup.Levels)]int64
	// floor: rows of older buckets may have been evicted.
	floor [len(rollup.Levels)]int64
	// newest is the newest bucket written of each level.
	newest [len(rollup.Levels)]int64
	writes int
}

// keep is how far behind the newest bucket a level's rows stay cached:
// enough for results that arrive a little late, spooled ones are read
// from the database.
var keep = [len(rollup.Levels)]int64{10 * 60, 2 * 3600, 2 * 86400, 8 * 86400}

func newRollupCache(ctx context.Context, db *sql.DB) (*rollupCache, error) {
	c := &rollupCache{rows: make(map[rollup.Key]*rollup.Row), packs: make(map[packKey][]*rollup.Row)}
	for _, l := range rollup.Levels {
		var hwm sql.NullInt64
		if err := db.QueryRowContext(ctx, `SELECT max(bucket) FROM rollup_`+l.String()).Scan(&hwm); err != nil {
			return nil, fmt.Errorf("sqlite: newest %s rollup: %w", l, err)
		}
		c.hwm[l] = math.MinInt64
		if hwm.Valid {
			c.hwm[l] = hwm.Int64
		}
		c.floor[l] = math.MinInt64
		c.newest[l] = math.MinInt64
	}
	return c, nil
}

// absent reports whether a row or pack of level l and bucket certainly
// does not exist, though the cache does not hold it.
func (c *rollupCache) absent(l rollup.Level, bucket int64) bool {
	return bucket > c.hwm[l] && bucket >= c.floor[l]
}

// lookup returns the cached rows for keys, and the keys it cannot answer.
// Packs found are copied into packs, so the caller may change them.
func (c *rollupCache) lookup(keys []rollup.Key, found map[rollup.Key]*rollup.Row, packs dayPacks) []rollup.Key {
	var miss []rollup.Key
	for _, k := range keys {
		if k.Level.Packed() {
			pk := packKey{k.Level, k.Bucket, k.Check}
			p, done := packs[pk]
			if !done {
				if p, done = c.packs[pk]; done {
					p = slices.Clone(p)
					packs[pk] = p
				} else if c.absent(k.Level, k.Bucket) {
					packs[pk], done = nil, true
				}
			}
			if !done {
				miss = append(miss, k)
				continue
			}
			// Only the entry asked for: a pack holds up to a hundred
			// vantages, of which a compaction touches a few.
			if i := slices.IndexFunc(p, func(r *rollup.Row) bool { return r.Vantage == k.Vantage }); i >= 0 {
				found[k] = p[i]
			}
			continue
		}
		if r, ok := c.rows[k]; ok {
			found[k] = r
		} else if !c.absent(k.Level, k.Bucket) {
			miss = append(miss, k)
		}
	}
	return miss
}

// remember records what a committed transaction wrote.
func (c *rollupCache) remember(rows []*rollup.Row, packs dayPacks) {
	for _, r := range rows {
		if !r.Level.Packed() {
			c.rows[r.Key] = r
		}
		c.newest[r.Level] = max(c.newest[r.Level], r.Bucket)
	}
	for pk, p := range packs {
		if len(p) > 0 {
			c.packs[pk] = p
		}
	}
	if c.writes++; c.writes%64 == 0 {
		for _, l := range rollup.Levels {
			if c.newest[l] != math.MinInt64 {
				c.evictBefore(l, c.newest[l]-keep[l])
			}
		}
	}
}

// evictBefore drops the rows of level l older than bucket.
func (c *rollupCache) evictBefore(l rollup.Level, bucket int64) {
	c.floor[l] = max(c.floor[l], bucket)
	if l.Packed() {
		for pk := range c.packs {
			if pk.level == l && pk.bucket < bucket {
				delete(c.packs, pk)
			}
		}
		return
	}
	for k := range c.rows {
		if k.Level == l && k.Bucket < bucket {
			delete(c.rows, k)
		}
	}
}
