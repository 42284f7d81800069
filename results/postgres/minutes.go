package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/picketnet/picket/results/rollup"
)

// An hour row records which of its minutes have a row (rollup_hour.minutes,
// bit m for minute m), so that compaction looks up only the minute rows
// that may exist: a minute row is written only with its hour row, and
// nearly every minute a compaction writes is new. NULL means not known
// (rows from before migration 8, or loaded by LoadRollups): then every
// minute of the hour is looked up. Should a minute row exist that the
// bitmap misses (retention deleted its hour row, say), its copy fails on
// the key and the compaction is retried looking up every minute.
const minutesMigration = `ALTER TABLE rollup_hour ADD COLUMN minutes bigint`

// compactLoader is the rollup.Loader of a compaction. It remembers every
// row it found and each stored hour's minutes.
type compactLoader struct {
	ctx     context.Context
	tx      pgx.Tx
	careful bool      // look up every minute
	cache   *rowCache // checked before the database
	stored  map[rollup.Key]*rollup.Row
	masks   map[rollup.Key]*int64 // of every stored hour row; nil: not known
}

func newCompactLoader(ctx context.Context, tx pgx.Tx, cache *rowCache, careful bool) *compactLoader {
	return &compactLoader{ctx: ctx, tx: tx, careful: careful, cache: cache,
		stored: make(map[rollup.Key]*rollup.Row), masks: make(map[rollup.Key]*int64)}
}

// minuteBit is k's bit in its hour's minutes.
func minuteBit(k rollup.Key) int64 {
	return 1 << ((k.Bucket - rollup.LevelBucket(rollup.Hour, k.Bucket)) / 60)
}

// load returns the stored minute and hour rows of keys, which hold the
// hour of every minute key, among those of the keys of earlier calls:
// stored grows by what it finds, rather than each call making a map
// that is copied there.
func (c *compactLoader) load(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
	found := c.stored
	var hours, minutes []rollup.Key
	for _, k := range keys {
		switch k.Level {
		case rollup.Hour:
			if h, known := c.cache.lookup(k); known {
				if h.row != nil {
					found[k], c.masks[k] = h.row, h.mask
				}
				continue
			}
			hours = append(hours, k)
		case rollup.Minute:
			if row := c.cache.minute(k); row != nil {
				found[k] = row
				continue
			}
			minutes = append(minutes, k)
		}
	}
	if err := c.loadHours(hours, found); err != nil {
		return nil, err
	}
	maybe := minutes[:0]
	for _, k := range minutes {
		mask, ok := c.masks[k.Within(rollup.Hour)]
		if c.careful || (ok && (mask == nil || *mask&minuteBit(k) != 0)) {
			maybe = append(maybe, k)
		}
	}
	if len(maybe) > 0 {
		rows, err := loadRollups(c.ctx, c.tx, maybe)
		if err != nil {
			return nil, err
		}
		maps.Copy(found, rows)
	}
	return found, nil
}

func (c *compactLoader) loadHours(keys []rollup.Key, found map[rollup.Key]*rollup.Row) error {
	if len(keys) == 0 {
		return nil
	}
	buckets := make([]time.Time, len(keys))
	checks := make([]string, len(keys))
	vantages := make([]string, len(keys))
	for i, k := range keys {
		buckets[i], checks[i], vantages[i] = time.Unix(k.Bucket, 0), k.Check, k.Vantage
	}
	rows, err := c.tx.Query(c.ctx, `SELECT r.minutes, `+prefixed("r.", rollupColumns)+` FROM rollup_hour r
		JOIN unnest($1::timestamptz[], $2::text[], $3::text[]) AS k(b, c, v)
		ON r.bucket = k.b AND r.check_id = k.c AND r.vantage = k.v`, buckets, checks, vantages)
	if err != nil {
		return fmt.Errorf("load hour rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var mask *int64
		row := &rollup.Row{Key: rollup.Key{Level: rollup.Hour}}
		if err := scanRollupInto(rows, row, &mask); err != nil {
			return fmt.Errorf("load hour rollups: %w", err)
		}
		found[row.Key] = row
		c.masks[row.Key] = mask
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load hour rollups: %w", err)
	}
	return nil
}

// newMasks returns the minutes to record in the hour rows of the minute
// rows written: what was stored and what is new, or nil if what was
// stored is not known.
func (c *compactLoader) newMasks(written []*rollup.Row) map[rollup.Key]*int64 {
	out := make(map[rollup.Key]*int64)
	for _, m := range written {
		if m.Level != rollup.Minute {
			continue
		}
		hk := m.Key.Within(rollup.Hour)
		v, seen := out[hk]
		if !seen {
			old, stored := c.masks[hk]
			switch {
			case stored && old == nil:
			case stored:
				v = new(int64)
				*v = *old
			default:
				v = new(int64)
			}
			out[hk] = v
		}
		if v != nil {
			*v |= minuteBit(m.Key)
		}
	}
	return out
}

// isUniqueViolation reports whether err is a duplicate key.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
