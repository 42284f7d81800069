package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/picketnet/picket/results"
)

// ResultsAfter implements results.ResultStore. The cursor is the rowid of
// the last result read: one writer assigns rowids in commit order, so
// "rowid > cursor" is exactly what was committed since. The reader, the
// alert evaluator, runs in this process and follows closely, so the
// results of the latest commits are handed to it from memory (recent);
// a reader further behind reads them back from the database.
func (s *Store) ResultsAfter(ctx context.Context, dst []results.Result, cursor string, limit int) ([]results.Result, string, error) {
	if cursor == "" {
		var head int64
		if err := s.r.QueryRowContext(ctx, lastRowidSQL).Scan(&head); err != nil {
			return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
		}
		return dst, strconv.FormatInt(head, 10), nil
	}
	after, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: bad cursor %q", cursor)
	}
	if rs, last, ok := s.recent.after(dst, after, max(limit, 1)); ok {
		return rs, strconv.FormatInt(last, 10), nil
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
	}
	defer tx.Rollback()
	// Rowids restart below the cursor only once retention has deleted
	// every row, the newest included: whatever is stored now came later.
	var head int64
	if err := tx.QueryRowContext(ctx, lastRowidSQL).Scan(&head); err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
	}
	if head < after {
		after = 0
	}
	rows, err := tx.QueryContext(ctx, `SELECT rowid, `+resultColumns+` FROM results WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, max(limit, 1))
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
	}
	defer rows.Close()
	out := dst
	for rows.Next() {
		r, err := scanResult(rows, &after)
		if err != nil {
			return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
	}
	return out, strconv.FormatInt(after, 10), nil
}

const lastRowidSQL = `SELECT coalesce(max(rowid), 0) FROM results`

// recentFeed holds the results of the latest commits, whole commits in
// rowid order, until the reader has passed them or there are more than
// recentFeedMax. Commit i holds the rows after commit i-1's last rowid
// (after from, for the first) through its own last.
type recentFeed struct {
	mu      sync.Mutex
	from    int64
	commits []feedCommit
	size    int
}

type feedCommit struct {
	last int64
	rs   []results.Result
}

// recentFeedMax bounds the memory the feed holds (about 400 bytes a
// result) when its reader falls behind or does not run.
const recentFeedMax = 150_000

// add records a commit whose last stored row is last. The results are
// copied: the caller's slices are its own again once Ingest returns.
func (f *recentFeed) add(last int64, rs []results.Result) {
	if len(rs) == 0 {
		return
	}
	kept := make([]results.Result, len(rs))
	for i := range rs {
		kept[i] = rs[i].Clone()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if last-int64(len(kept)) < f.from {
		// Rowids started again (retention deleted every row): what the
		// feed holds no longer lines up with them; readers go to the
		// database, which sorts it out.
		f.from, f.commits, f.size = 0, nil, 0
		return
	}
	f.commits = append(f.commits, feedCommit{last: last, rs: kept})
	f.size += len(kept)
	for f.size > recentFeedMax {
		f.drop()
	}
}

// after appends to dst the results of the whole commits after rowid c, at
// least limit of them if there are as many, and returns the last rowid
// they hold. ok is
// false when c is not the end of a commit the feed holds: the reader must
// read the database. Commits up to c are dropped: the one reader has them.
func (f *recentFeed) after(dst []results.Result, c int64, limit int) (rs []results.Result, last int64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.commits) > 0 && f.commits[0].last <= c {
		f.drop()
	}
	if c != f.from {
		return nil, 0, false
	}
	rs, last = dst, c
	for _, cm := range f.commits {
		if len(rs)-len(dst) >= limit {
			break
		}
		rs = append(rs, cm.rs...)
		last = cm.last
	}
	return rs, last, true
}

func (f *recentFeed) drop() {
	f.from = f.commits[0].last
	f.size -= len(f.commits[0].rs)
	f.commits[0] = feedCommit{}
	f.commits = f.commits[1:]
}

// scanResult reads a row of resultColumns, after any leading columns
// given in before.
func scanResult(rows *sql.Rows, before ...any) (results.Result, error) {
	var r results.Result
	var asn int64
	var started int64
	var layer, code, msg string
	var details []byte
	dst := append(before, &r.ID, &r.Team, &r.Endpoint, &r.Check, &r.Kind, &r.Vantage, &r.Region,
		&r.Provider, &asn, &r.Target, &r.Addr, &started, &r.DurationMS, &r.OK, &layer, &code, &msg,
		&r.Phases.DNSMS, &r.Phases.ConnectMS, &r.Phases.TLSMS, &r.Phases.TTFBMS,
		&r.Phases.TransferMS, &details)
	if err := rows.Scan(dst...); err != nil {
		return r, err
	}
	r.ASN = uint32(asn)
	r.StartedAt = time.Unix(0, started).UTC()
	r.SetErrorColumns(layer, code, msg)
	if len(details) > 0 {
		r.Details = details
	}
	return r, nil
}
