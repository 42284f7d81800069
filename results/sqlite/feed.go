package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/picketnet/picket/results"
)

// ResultsAfter implements results.ResultStore. The cursor is the rowid of
// the last result read: one writer assigns rowids in commit order, so
// "rowid > cursor" is exactly what was committed since.
func (s *Store) ResultsAfter(ctx context.Context, cursor string, limit int) ([]results.Result, string, error) {
	if cursor == "" {
		var head int64
		if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM results`).Scan(&head); err != nil {
			return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
		}
		return nil, strconv.FormatInt(head, 10), nil
	}
	after, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: bad cursor %q", cursor)
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: result feed: %w", err)
	}
	defer tx.Rollback()
	// Rowids restart below the cursor only once retention has deleted
	// every row, the newest included: whatever is stored now came later.
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM results`).Scan(&head); err != nil {
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
	var out []results.Result
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
	if layer != "" || code != "" {
		r.Error = &results.Error{Layer: results.Layer(layer), Code: results.Code(code), Message: msg}
	}
	if len(details) > 0 {
		r.Details = details
	}
	return r, nil
}
