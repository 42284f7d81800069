package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// packKey identifies a packed day row.
type packKey struct {
	bucket int64
	check  string
}

// dayPacks holds, during one write, the stored entries of every packed
// day row read, so that rewriting a pack keeps the vantages not written.
type dayPacks map[packKey][]*rollup.Row

func loadSQL(l rollup.Level, n int) string {
	if l == rollup.Day {
		return `WITH k (b, c) AS (VALUES ` + placeholders(2, n) + `)
			SELECT r.bucket, r.check_id, r.team, r.endpoint, r.kind, r.series
			FROM k CROSS JOIN rollup_day r WHERE r.bucket = k.b AND r.check_id = k.c`
	}
	return `WITH k (b, c, v) AS (VALUES ` + placeholders(3, n) + `)
		SELECT r.bucket, r.check_id, r.vantage, r.team, r.endpoint, r.kind, r.region, r.provider,
		r.asn, r.count, r.failures, r.failed_minutes, r.down_minutes, r.errors, r.hist
		FROM k CROSS JOIN rollup_` + l.String() + ` r
		WHERE r.bucket = k.b AND r.check_id = k.c AND r.vantage = k.v`
}

func packUpsertSQL(n int) string {
	return `INSERT INTO rollup_day (bucket, check_id, team, endpoint, kind, series) VALUES ` +
		placeholders(6, n) + ` ON CONFLICT (bucket, check_id) DO UPDATE SET series = excluded.series`
}

func closeRows(rows *sql.Rows) error {
	err := rows.Close()
	if err == nil {
		err = rows.Err()
	}
	return err
}

// loadRollups reads the stored rows of keys; day rows come from their
// packs, every entry of which is also kept in packs.
func (s *Store) loadRollups(ctx context.Context, tx *sql.Tx, keys []rollup.Key, packs dayPacks) (map[rollup.Key]*rollup.Row, error) {
	found := make(map[rollup.Key]*rollup.Row)
	keys = s.cache.lookup(keys, found, packs)
	for _, l := range rollup.Levels {
		var args [][]any
		seen := make(map[packKey]bool)
		for _, k := range keys {
			switch {
			case k.Level != l:
			case l == rollup.Day:
				pk := packKey{k.Bucket, k.Check}
				if _, ok := packs[pk]; !ok && !seen[pk] {
					seen[pk] = true
					args = append(args, []any{k.Bucket, k.Check})
				}
			default:
				args = append(args, []any{k.Bucket, k.Check, k.Vantage})
			}
		}
		for lo := 0; lo < len(args); lo += keyChunk {
			chunk := args[lo:min(lo+keyChunk, len(args))]
			st, err := s.stmt(ctx, tx, loadSQL(l, len(chunk)))
			if err != nil {
				return nil, fmt.Errorf("load %s rollups: %w", l, err)
			}
			rows, err := st.QueryContext(ctx, slices.Concat(chunk...)...)
			if err != nil {
				return nil, fmt.Errorf("load %s rollups: %w", l, err)
			}
			for rows.Next() {
				var loaded []*rollup.Row
				if l == rollup.Day {
					var bucket int64
					var check, team, endpoint, kind string
					var series []byte
					if err := rows.Scan(&bucket, &check, &team, &endpoint, &kind, &series); err != nil {
						rows.Close()
						return nil, fmt.Errorf("load day rollups: %w", err)
					}
					loaded, err = rollup.UnpackRows(l, bucket, check, team, endpoint, kind, series)
					packs[packKey{bucket, check}] = loaded
				} else {
					var r *rollup.Row
					r, err = scanRollup(rows, l)
					loaded = []*rollup.Row{r}
				}
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("load %s rollups: %w", l, err)
				}
				for _, r := range loaded {
					found[r.Key] = r
				}
			}
			if err := closeRows(rows); err != nil {
				return nil, fmt.Errorf("load %s rollups: %w", l, err)
			}
		}
		for pk := range seen {
			if _, ok := packs[pk]; !ok {
				packs[pk] = nil // known empty
			}
		}
	}
	return found, nil
}

func scanRollup(sc scanner, l rollup.Level) (*rollup.Row, error) {
	row := &rollup.Row{Key: rollup.Key{Level: l}}
	var errs string
	var hist []byte
	if err := sc.Scan(&row.Bucket, &row.Check, &row.Vantage, &row.Team, &row.Endpoint,
		&row.Kind, &row.Region, &row.Provider, &row.ASN, &row.Count, &row.Failures,
		&row.FailedMinutes, &row.DownMinutes, &errs, &hist); err != nil {
		return nil, err
	}
	var err error
	if row.Errors, err = rollup.DecodeErrorMap(errs); err != nil {
		return nil, err
	}
	if err := row.Hist.UnmarshalBinary(hist); err != nil {
		return nil, err
	}
	return row, nil
}

// writeRollups writes rows over the stored ones. Day rows are merged into
// their packs, which loadRollups must have read into packs.
func (s *Store) writeRollups(ctx context.Context, tx *sql.Tx, rows []*rollup.Row, packs dayPacks) error {
	for _, l := range rollup.Levels {
		var args [][]any
		if l == rollup.Day {
			changed := make(map[packKey]bool)
			for _, r := range rows {
				if r.Level != l {
					continue
				}
				pk := packKey{r.Bucket, r.Check}
				entries := packs[pk]
				i := slices.IndexFunc(entries, func(e *rollup.Row) bool { return e.Vantage == r.Vantage })
				if i >= 0 {
					entries[i] = r
				} else {
					entries = append(entries, r)
				}
				packs[pk] = entries
				changed[pk] = true
			}
			keys := make([]packKey, 0, len(changed))
			for pk := range changed {
				keys = append(keys, pk)
			}
			slices.SortFunc(keys, func(a, b packKey) int { return cmp.Or(cmp.Compare(a.bucket, b.bucket), cmp.Compare(a.check, b.check)) })
			for _, pk := range keys {
				entries := packs[pk]
				slices.SortFunc(entries, func(a, b *rollup.Row) int { return cmp.Compare(a.Vantage, b.Vantage) })
				blob, err := rollup.AppendPack(nil, entries)
				if err != nil {
					return fmt.Errorf("sqlite: pack day rollup: %w", err)
				}
				last := entries[len(entries)-1]
				args = append(args, []any{pk.bucket, pk.check, last.Team, last.Endpoint, last.Kind, blob})
			}
		} else {
			for _, r := range rows {
				if r.Level != l {
					continue
				}
				hist, err := r.Hist.MarshalBinary()
				if err != nil {
					return fmt.Errorf("sqlite: encode histogram: %w", err)
				}
				args = append(args, []any{r.Bucket, r.Check, r.Vantage, r.Team, r.Endpoint, r.Kind, r.Region,
					r.Provider, int64(r.ASN), r.Count, r.Failures, r.FailedMinutes, r.DownMinutes,
					rollup.EncodeErrors(r.Errors), hist})
			}
		}
		for lo := 0; lo < len(args); lo += rollupChunk {
			chunk := args[lo:min(lo+rollupChunk, len(args))]
			q := upsertSQL(l, len(chunk))
			if l == rollup.Day {
				q = packUpsertSQL(len(chunk))
			}
			st, err := s.stmt(ctx, tx, q)
			if err != nil {
				return fmt.Errorf("sqlite: write %s rollups: %w", l, err)
			}
			if _, err := st.ExecContext(ctx, slices.Concat(chunk...)...); err != nil {
				return fmt.Errorf("sqlite: write %s rollups: %w", l, err)
			}
		}
	}
	return nil
}

// LoadRollups writes rollup rows as they are, replacing stored rows with
// the same key, without raw results. It is the bulk path that fills a
// store with generated history for report benchmarks (results/synth).
func (s *Store) LoadRollups(ctx context.Context, rows []*rollup.Row) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: load rollups: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	packs := make(dayPacks)
	var dayKeys []rollup.Key
	for _, r := range rows {
		if r.Level == rollup.Day {
			dayKeys = append(dayKeys, r.Key)
		}
	}
	if _, err := s.loadRollups(ctx, tx, dayKeys, packs); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := s.writeRollups(ctx, tx, rows, packs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: load rollups: commit: %w", err)
	}
	s.cache.remember(rows, packs)
	return nil
}

// Rollups implements results.ResultStore. Besides minute and hour it
// answers the "day" resolution.
func (s *Store) Rollups(ctx context.Context, q results.RollupQuery) ([]results.Rollup, error) {
	level, err := rollup.LevelOf(q.Resolution)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var w where
	w.eq("team", q.Team)
	w.eq("endpoint", q.Endpoint)
	w.eq("check_id", q.Check)
	if level != rollup.Day {
		w.eq("vantage", q.Vantage)
		w.eq("region", q.Region)
	}
	if !q.Since.IsZero() {
		w.add("bucket >= ?", level.Truncate(q.Since).Unix())
	}
	if !q.Until.IsZero() {
		w.add("bucket < ?", q.Until.Unix())
	}
	cols, order := rollupColumns, ` ORDER BY bucket, check_id, vantage`
	if level == rollup.Day {
		cols, order = `bucket, check_id, team, endpoint, kind, series`, ` ORDER BY bucket, check_id`
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+cols+` FROM rollup_`+level.String()+w.String()+order, w.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query rollups: %w", err)
	}
	defer rows.Close()
	var out []results.Rollup
	for rows.Next() {
		var loaded []*rollup.Row
		if level == rollup.Day {
			var bucket int64
			var check, team, endpoint, kind string
			var series []byte
			if err := rows.Scan(&bucket, &check, &team, &endpoint, &kind, &series); err != nil {
				return nil, fmt.Errorf("sqlite: query rollups: %w", err)
			}
			loaded, err = rollup.UnpackRows(level, bucket, check, team, endpoint, kind, series)
		} else {
			var r *rollup.Row
			r, err = scanRollup(rows, level)
			loaded = []*rollup.Row{r}
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: query rollups: %w", err)
		}
		for _, r := range loaded {
			if (q.Vantage == "" || r.Vantage == q.Vantage) && (q.Region == "" || r.Region == q.Region) {
				out = append(out, r.Rollup())
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query rollups: %w", err)
	}
	return out, nil
}

// Availability implements results.ResultStore; see package rollup for
// the window alignment and the definitions of the numbers.
func (s *Store) Availability(ctx context.Context, q results.ReportQuery) ([]results.AvailabilityRow, error) {
	rep, err := rollup.NewReport(q.By)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	until := q.Until
	if until.IsZero() {
		until = time.Now()
	}
	_, _, spans := rollup.Window(q.Since, until)
	for _, sp := range spans {
		var w where
		w.eq("team", q.Team)
		w.eq("endpoint", q.Endpoint)
		w.add("bucket >= ? AND bucket < ?", sp.From.Unix(), sp.To.Unix())
		if err := s.report(ctx, rep, sp.Level, &w); err != nil {
			return nil, fmt.Errorf("sqlite: availability: %w", err)
		}
	}
	return rep.Rows(), nil
}

func (s *Store) report(ctx context.Context, rep *rollup.Report, l rollup.Level, w *where) error {
	if l == rollup.Day {
		rows, err := s.r.QueryContext(ctx, `SELECT team, endpoint, check_id, series FROM rollup_day`+w.String(), w.args...)
		if err != nil {
			return err
		}
		var team, endpoint, check string
		var series sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&team, &endpoint, &check, &series); err != nil {
				rows.Close()
				return err
			}
			if err := rep.AddPack(team, endpoint, check, series); err != nil {
				rows.Close()
				return err
			}
		}
		return closeRows(rows)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT team, endpoint, check_id, vantage, region, provider, asn,
		count, failures, failed_minutes, down_minutes, errors, hist FROM rollup_`+l.String()+w.String(), w.args...)
	if err != nil {
		return err
	}
	var row rollup.ReportRow
	for rows.Next() {
		if err := rows.Scan(&row.Team, &row.Endpoint, &row.Check, &row.Vantage, &row.Region,
			&row.Provider, &row.ASN, &row.Count, &row.Failures, &row.FailedMinutes,
			&row.DownMinutes, &row.Errors, &row.Hist); err != nil {
			rows.Close()
			return err
		}
		if err := rep.Add(&row); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}
