package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// feedMigration made the first feed of ResultsAfter (migration 10): one
// row per ingest transaction holding the results it stored for the first
// time, deleted once read. Migration 14 dropped it: the result packs,
// which carry their transaction id, are the feed now, and storing every
// result a second time cost the server a fifth of ingest.
const feedMigration = `
CREATE TABLE result_feed (
	xid     xid8        NOT NULL DEFAULT pg_current_xact_id(),
	seq     bigserial   NOT NULL,
	at      timestamptz NOT NULL DEFAULT now(),
	n       integer     NOT NULL, -- results in records
	records bytea       NOT NULL,
	PRIMARY KEY (xid, seq)
);
ALTER TABLE result_feed ALTER COLUMN records SET STORAGE EXTERNAL;
`

// feedCursor is where a reader is in the feed. Batches commit in another
// order than they begin, so a position in (xid, seq) alone would skip a
// batch that commits after later ones were read. Instead the cursor keeps
// snapshots: lo, whose committed rows the reader has all read; hi, the
// snapshot being read (empty between reads), and after, the last row of
// hi read so far when a page stopped at the limit. A row is new when it
// is visible in hi but not in lo: committed since, however long its
// transaction ran, and without waiting for any other transaction.
type feedCursor struct {
	lo, hi string // pg_snapshot texts
	after  feedRow
}

type feedRow struct {
	xid string // xid8 text
	seq int64
}

func (c feedCursor) String() string {
	return c.lo + "|" + c.hi + "|" + c.after.xid + "|" + strconv.FormatInt(c.after.seq, 10)
}

func parseFeedCursor(s string) (feedCursor, error) {
	parts := strings.Split(s, "|")
	if len(parts) != 4 || parts[0] == "" {
		return feedCursor{}, fmt.Errorf("bad cursor %q", s)
	}
	seq, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return feedCursor{}, fmt.Errorf("bad cursor %q", s)
	}
	return feedCursor{lo: parts[0], hi: parts[1], after: feedRow{parts[2], seq}}, nil
}

// ResultsAfter implements results.ResultStore. The feed is the result
// packs (resultpacks.go): each carries the id of the transaction that
// stored it, which tells whether it committed before or after a
// snapshot. Nothing is deleted: retention drops packs by day.
func (s *Store) ResultsAfter(ctx context.Context, dst []results.Result, cursor string, limit int) ([]results.Result, string, error) {
	if cursor == "" {
		var now string
		if err := s.pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&now); err != nil {
			return nil, "", fmt.Errorf("postgres: result feed: %w", err)
		}
		return dst, feedCursor{lo: now, after: feedRow{"0", 0}}.String(), nil
	}
	c, err := parseFeedCursor(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: result feed: %w", err)
	}
	out := dst
	more := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if c.hi == "" {
			if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&c.hi); err != nil {
				return err
			}
		}
		r := feedReader{strs: &intern.Strings{}, recent: &s.recent, held: s.recent.held(time.Now())}
		for len(out)-len(dst) < max(limit, 1) {
			packs, err := r.page(ctx, tx, &c, &out)
			if err != nil {
				return err
			}
			if packs < feedPage {
				return nil // hi is read through
			}
		}
		more = true
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: result feed: %w", err)
	}
	if !more {
		// hi is read through: it is what the reader has seen.
		c = feedCursor{lo: c.hi, after: feedRow{"0", 0}}
	}
	return out, c.String(), nil
}

// feedPage is how many packs one statement of the feed reads. Packs are
// read in the order of the (xid, seq) index, a page at a time, until the
// reader has its limit of results: numbering all the packs between two
// snapshots instead (a window over their running count), as the first
// feed did over one row per transaction, read every pack left to read at
// every page, and took the server longer than storing them once the
// reader was behind.
const feedPage = 256

// feedReader reads pages of the feed within one transaction.
type feedReader struct {
	raw    []byte
	strs   *intern.Strings
	recent *recentPacks
	held   []string // transaction ids whose packs recent holds
	packs  []feedPack
}

// feedPack is a pack a page of the feed names, with its records as the
// server sent them, or its results from recent.
type feedPack struct {
	feedRow
	records []byte
	rs      []results.Result
}

// page reads the next packs of c's snapshots after c.after, appends their
// results to out, moves c.after past them and returns how many packs it
// read. The server leaves out the records of packs that r.recent may
// hold; those it does not hold any more are read in a second statement.
func (r *feedReader) page(ctx context.Context, tx pgx.Tx, c *feedCursor, out *[]results.Result) (int, error) {
	// xid_text, not xid: ORDER BY xid must sort the xid8, not its text.
	rows, err := tx.Query(ctx, `SELECT xid::text AS xid_text, seq,
			CASE WHEN xid::text = ANY($6::text[]) THEN NULL ELSE records END
		FROM result_packs
		WHERE xid >= pg_snapshot_xmin($1::pg_snapshot) AND xid < pg_snapshot_xmax($2::pg_snapshot)
		  AND (xid, seq) > ($3::text::xid8, $4)
		  AND pg_visible_in_snapshot(xid, $2::pg_snapshot) AND NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)
		ORDER BY xid, seq LIMIT $5`, c.lo, c.hi, c.after.xid, c.after.seq, feedPage, r.held)
	if err != nil {
		return 0, err
	}
	r.packs = r.packs[:0]
	var p feedPack
	_, err = pgx.ForEachRow(rows, []any{&p.xid, &p.seq, &p.records}, func() error {
		r.packs = append(r.packs, p)
		return nil
	})
	if err != nil {
		return 0, err
	}
	var missing []*feedPack
	for i := range r.packs {
		p := &r.packs[i]
		// Taken also when the server sent it: the pack is delivered now.
		var held bool
		p.rs, held = r.recent.take(p.xid, p.seq)
		if p.records == nil && !held {
			missing = append(missing, p)
		}
	}
	if err := readRecords(ctx, tx, missing); err != nil {
		return 0, err
	}
	for i := range r.packs {
		p := &r.packs[i]
		c.after = p.feedRow
		if p.records == nil {
			*out = append(*out, p.rs...)
			continue
		}
		if r.raw, err = s2.Decode(r.raw[:cap(r.raw)], p.records); err != nil {
			return 0, fmt.Errorf("pack %s/%d: %w", p.xid, p.seq, err)
		}
		if *out, err = decodeFeedRecordsTo(*out, r.raw, "", r.strs); err != nil {
			return 0, fmt.Errorf("pack %s/%d: %w", p.xid, p.seq, err)
		}
	}
	return len(r.packs), nil
}

// readRecords reads the records of packs, which a page named without
// them: recent held their transaction's packs when the page began, and
// dropped them since.
func readRecords(ctx context.Context, tx pgx.Tx, packs []*feedPack) error {
	if len(packs) == 0 {
		return nil
	}
	xids := make([]string, len(packs))
	seqs := make([]int64, len(packs))
	at := make(map[feedRow]*feedPack, len(packs))
	for i, p := range packs {
		xids[i], seqs[i] = p.xid, p.seq
		at[p.feedRow] = p
	}
	rows, err := tx.Query(ctx, `SELECT xid::text, seq, records FROM result_packs
		WHERE (xid, seq) IN (SELECT x::xid8, s FROM unnest($1::text[], $2::bigint[]) AS k(x, s))`, xids, seqs)
	if err != nil {
		return err
	}
	var row feedRow
	var records []byte
	_, err = pgx.ForEachRow(rows, []any{&row.xid, &row.seq, &records}, func() error {
		if p := at[row]; p != nil {
			p.records, records = records, nil
			delete(at, row)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for row := range at {
		return fmt.Errorf("pack %s/%d: gone while the feed read it", row.xid, row.seq)
	}
	return nil
}

// scanResult reads a row of resultColumns, after any leading columns
// given in before.
func scanResult(rows pgx.Rows, before ...any) (results.Result, error) {
	var r results.Result
	var asn int64
	var layer, code, msg string
	var details []byte
	dst := append(before, &r.ID, &r.StartedAt, &r.Team, &r.Endpoint, &r.Check, &r.Kind, &r.Vantage,
		&r.Region, &r.Provider, &asn, &r.Target, &r.Addr, &r.DurationMS, &r.OK, &layer, &code, &msg,
		&r.Phases.DNSMS, &r.Phases.ConnectMS, &r.Phases.TLSMS, &r.Phases.TTFBMS,
		&r.Phases.TransferMS, &details)
	if err := rows.Scan(dst...); err != nil {
		return r, err
	}
	r.ASN = uint32(asn)
	r.StartedAt = r.StartedAt.UTC()
	r.SetErrorColumns(layer, code, msg)
	if len(details) > 0 {
		r.Details = details
	}
	return r, nil
}
