package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// Query implements results.ResultStore. It reads packs newest first (by
// the newest result they hold), decodes them, keeps the newest results
// that q selects, and stops at the first pack older than all of them once
// it has q's limit; then it adds what results_legacy holds (legacy.go).
// All in one snapshot.
func (s *Store) Query(ctx context.Context, q results.ResultQuery) ([]results.Result, error) {
	// The server keeps microseconds: bounds finer than that would make
	// packs and legacy rows disagree at the edges.
	q.Since, q.Until = q.Since.Truncate(time.Microsecond), q.Until.Truncate(time.Microsecond)
	top := newNewest(results.RowLimit(q.Limit))
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: query results: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	if q.Endpoint != "" {
		err = readEndpointPacks(ctx, tx, q, top, time.Now())
	} else {
		err = readPacks(ctx, tx, q, top)
	}
	if err == nil {
		err = s.queryLegacy(ctx, tx, q, top)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: query results: %w", err)
	}
	return top.sorted(), nil
}

// firstSlice and lastSlice bound the windows readEndpointPacks reads an
// endpoint's packs in: the first the last minute, each next one twice as
// long as the one before, and once they are longer than lastSlice,
// everything older at once (since q.Since).
const (
	firstSlice = time.Minute
	lastSlice  = 2 * day
)

// readEndpointPacks offers top the results of q's endpoint, reading its
// packs (by the GIN index on endpoints) in windows of started_max going
// back from q.Until (or now), each twice as long as the one before: a
// window holds few packs, so sorting them costs little, where sorting all
// of an endpoint's packs since q.Since would cost more the longer ago
// that is, however few results q asks for.
func readEndpointPacks(ctx context.Context, tx pgx.Tx, q results.ResultQuery, top *newest, now time.Time) error {
	anchor := q.Until
	if anchor.IsZero() {
		anchor = now
	}
	var hi time.Time // none: a pack holding a result before Until may end after it
	packs := newPackReader(q, top)
	for w := firstSlice; ; w *= 2 {
		lo := anchor.Add(-w)
		last := false
		switch {
		case !q.Since.IsZero() && !lo.After(q.Since):
			lo, last = q.Since, true
		case w > lastSlice:
			lo, last = q.Since, true // zero when there is none
		}
		query, args := endpointPacksQuery(q, lo, hi)
		enough, _, err := packs.read(ctx, tx, query, args...)
		if err != nil || enough || last {
			return err
		}
		if top.full() && !top.oldest().Before(lo) {
			return nil // every pack left ends before lo
		}
		hi = lo
	}
}

// endpointPacksQuery selects the packs of q's endpoint whose newest
// result started in [lo, hi) (zero: unbounded) and that may hold results
// q selects, newest first.
func endpointPacksQuery(q results.ResultQuery, lo, hi time.Time) (string, []any) {
	var w where
	w.add("endpoints @> $::text[]", []string{q.Endpoint})
	packWindow(&w, q, lo, hi)
	return `SELECT started_max, records FROM result_packs` + w.String() + ` ORDER BY started_max DESC`, w.args
}

// packWindow adds the conditions of packs whose newest result started in
// [lo, hi) and which may hold results q selects.
func packWindow(w *where, q results.ResultQuery, lo, hi time.Time) {
	if !lo.IsZero() {
		w.add("started_max >= $", lo)
		// A pack's results are of one day: the partitions of the days
		// before lo's are left out.
		w.add("started_min >= $", lo.UTC().Truncate(day))
	}
	if !hi.IsZero() {
		w.add("started_max < $", hi)
		w.add("started_min < $", hi) // the partitions of the days after hi's
	}
	if !q.Until.IsZero() {
		w.add("started_min < $", q.Until)
	}
	if q.OnlyFailed {
		w.add("failed > 0")
	}
}

// packsFetch bounds how many packs readPacks fetches at a time: few
// first (a limit of a few results is often met by the first packs), more
// as it goes.
const packsFetch = 1024

// readPacks offers top the results q selects, reading packs newest first
// by the B-tree on started_max through a cursor, which stops where top
// needs no more.
func readPacks(ctx context.Context, tx pgx.Tx, q results.ResultQuery, top *newest) error {
	var w where
	packWindow(&w, q, q.Since, time.Time{})
	packs := newPackReader(q, top)
	if _, err := tx.Exec(ctx, `DECLARE packs NO SCROLL CURSOR FOR SELECT started_max, records FROM result_packs`+
		w.String()+` ORDER BY started_max DESC`, w.args...); err != nil {
		return err
	}
	for n := 16; ; n = min(4*n, packsFetch) {
		enough, got, err := packs.read(ctx, tx, fmt.Sprintf(`FETCH %d FROM packs`, n))
		if err != nil || enough || got < n {
			return err
		}
	}
}

// packReader offers top the results q selects from the packs it reads,
// reusing its buffers from one pack to the next.
type packReader struct {
	q    results.ResultQuery
	top  *newest
	raw  []byte          // a pack's records, uncompressed
	strs *intern.Strings // the strings of its records, allocated once
}

func newPackReader(q results.ResultQuery, top *newest) *packReader {
	return &packReader{q: q, top: top, strs: &intern.Strings{}}
}

// read runs query, which selects started_max and records of packs newest
// first, and offers top the results q selects. It returns whether top
// needs no more packs (one ended before every result it keeps), and how
// many packs the query returned.
func (p *packReader) read(ctx context.Context, tx pgx.Tx, query string, args ...any) (enough bool, packs int, err error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return false, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		packs++
		var last time.Time
		var records []byte
		if err := rows.Scan(&last, &records); err != nil {
			return false, packs, err
		}
		if p.top.excludes(last) {
			return true, packs, nil
		}
		if err := p.offer(records); err != nil {
			return false, packs, fmt.Errorf("pack of results up to %v: %w", last, err)
		}
	}
	return false, packs, rows.Err()
}

// offer offers top the results of a pack's records that q selects.
func (p *packReader) offer(records []byte) error {
	var err error
	if p.raw, err = s2.Decode(p.raw[:cap(p.raw)], records); err != nil {
		return err
	}
	rs, err := decodeFeedRecordsOf(p.raw, p.q.Endpoint, p.strs)
	if err != nil {
		return err
	}
	for i := range rs {
		r := &rs[i]
		r.StartedAt = r.StartedAt.Truncate(time.Microsecond)
		if matches(&p.q, r) {
			p.top.offer(r)
		}
	}
	return nil
}

// matches reports whether q selects r.
func matches(q *results.ResultQuery, r *results.Result) bool {
	eq := func(want, v string) bool { return want == "" || want == v }
	return eq(q.Team, r.Team) && eq(q.Endpoint, r.Endpoint) && eq(q.Check, r.Check) &&
		eq(q.Vantage, r.Vantage) && eq(q.Region, r.Region) && eq(q.Kind, r.Kind) &&
		(!q.OnlyFailed || !r.OK) &&
		(q.Since.IsZero() || !r.StartedAt.Before(q.Since)) &&
		(q.Until.IsZero() || r.StartedAt.Before(q.Until))
}

// newest keeps the n newest results offered, by start and then id (the
// order of Query's answer), in a heap whose root is the oldest kept. It
// holds pointers: results are large to move.
type newest struct {
	n int
	h []*results.Result
}

func newNewest(n int) *newest { return &newest{n: n} }

// newer reports whether a comes before b in Query's answer.
func newer(a, b *results.Result) bool {
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

func (t *newest) full() bool { return len(t.h) == t.n }

// oldest is the start of the oldest result kept.
func (t *newest) oldest() time.Time { return t.h[0].StartedAt }

// excludes reports whether no result that started at or before last
// could be kept: the limit is reached and every result kept is newer.
func (t *newest) excludes(last time.Time) bool { return t.full() && last.Before(t.oldest()) }

func (t *newest) offer(r *results.Result) {
	if !t.full() {
		t.h = append(t.h, r)
		t.up(len(t.h) - 1)
		return
	}
	if newer(r, t.h[0]) {
		t.h[0] = r
		t.down(0)
	}
}

func (t *newest) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !newer(t.h[p], t.h[i]) {
			return
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *newest) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(t.h) {
			return
		}
		if c+1 < len(t.h) && newer(t.h[c], t.h[c+1]) {
			c++
		}
		if !newer(t.h[i], t.h[c]) {
			return
		}
		t.h[i], t.h[c] = t.h[c], t.h[i]
		i = c
	}
}

// sorted returns the results kept, newest first, and empties t.
func (t *newest) sorted() []results.Result {
	out := make([]results.Result, len(t.h))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = *t.h[0]
		last := len(t.h) - 1
		t.h[0] = t.h[last]
		t.h = t.h[:last]
		t.down(0)
	}
	return out
}
