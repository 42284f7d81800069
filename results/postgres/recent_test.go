package postgres

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// feedBatches are batches spread over two UTC days and many endpoints,
// so that a transaction stores several packs, with errors and details.
func feedBatches(n int) [][]results.Result {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	var batches [][]results.Result
	for b := range n {
		var batch []results.Result
		for i := range 40 {
			r := feedSamples()[i%2]
			r.ID = fmt.Sprintf("0192f1c4-0000-7000-8000-%06d%06d", b, i)
			r.Endpoint = fmt.Sprintf("ep-%02d", i%20)
			r.Check = r.Endpoint + "/http"
			r.StartedAt = day.Add(time.Duration(i%2*-12)*time.Hour + time.Duration(b*40+i)*time.Second)
			batch = append(batch, r)
		}
		batches = append(batches, batch)
	}
	return batches
}

// readFeed reads s's feed from cursor to its end.
func readFeed(t *testing.T, s *Store, cursor string) []results.Result {
	t.Helper()
	var all []results.Result
	for {
		rs, next, err := s.ResultsAfter(context.Background(), nil, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			return all
		}
		all, cursor = append(all, rs...), next
	}
}

// The feed's reader in the replica that stored the results takes them
// from memory, and gets what a reader in another replica reads from the
// database: the same results, field by field, in the same order. A batch
// holding a duplicate (the other ingest path) is kept too.
func TestFeedFromMemory(t *testing.T) {
	ctx := context.Background()
	stores := replicas(t, 2)
	ingester, other := stores[0], stores[1]

	_, mine, err := ingester.ResultsAfter(ctx, nil, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	_, theirs, err := other.ResultsAfter(ctx, nil, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	// A first page makes the ingesting replica's reader an active one.
	if rs, _, err := ingester.ResultsAfter(ctx, nil, mine, 100); err != nil || len(rs) != 0 {
		t.Fatalf("empty feed: %d results, %v", len(rs), err)
	}
	batches := feedBatches(6)
	batches[5] = append(batches[5], batches[4][0]) // a duplicate
	var stored []results.Result
	for _, b := range batches {
		out, err := ingester.Ingest(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b[:len(out.Accepted)]...)
	}
	if n := len(ingester.recent.txs); n != len(batches) {
		t.Fatalf("the ingesting replica holds the packs of %d transactions, want %d", n, len(batches))
	}

	fromMemory := readFeed(t, ingester, mine)
	fromDatabase := readFeed(t, other, theirs)
	if len(ingester.recent.txs) != 0 || ingester.recent.size != 0 {
		t.Errorf("after reading, the ingesting replica still holds %d transactions (%d results)", len(ingester.recent.txs), ingester.recent.size)
	}
	if len(other.recent.txs) != 0 {
		t.Errorf("a replica that stored nothing holds %d transactions", len(other.recent.txs))
	}
	if len(fromMemory) != len(stored) {
		t.Fatalf("feed from memory: %d results, want %d", len(fromMemory), len(stored))
	}
	if !reflect.DeepEqual(fromMemory, fromDatabase) {
		t.Errorf("the feed from memory differs from the database's:\n%+v\n%+v", fromMemory[0], fromDatabase[0])
	}
	byID := make(map[string]results.Result, len(stored))
	for _, r := range stored {
		byID[r.ID] = r
	}
	for _, r := range fromMemory {
		if !reflect.DeepEqual(r, byID[r.ID]) {
			t.Fatalf("result %s:\n got %+v\nwant %+v", r.ID, r, byID[r.ID])
		}
		delete(byID, r.ID)
	}
	if len(byID) != 0 {
		t.Errorf("%d stored results not in the feed", len(byID))
	}
}

// A page that the server sent without the records of packs held in
// memory, which memory dropped meanwhile, reads them in a second
// statement and delivers the same results as a page that asked for all.
func TestFeedPacksDroppedFromMemory(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	var lo string
	if err := s.pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&lo); err != nil {
		t.Fatal(err)
	}
	for _, b := range feedBatches(4) {
		if _, err := s.Ingest(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var xids []string
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT xid::text FROM result_packs`)
	for rows.Next() {
		var x string
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		xids = append(xids, x)
	}
	if err := rows.Err(); err != nil || len(xids) != 4 {
		t.Fatalf("%d transactions stored packs (%v), want 4", len(xids), err)
	}
	read := func(held []string) []results.Result {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		c := feedCursor{lo: lo, after: feedRow{"0", 0}}
		if err := tx.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&c.hi); err != nil {
			t.Fatal(err)
		}
		r := feedReader{strs: &intern.Strings{}, recent: &recentPacks{}, held: held}
		var out []results.Result
		for {
			n, err := r.page(ctx, tx, &c, &out)
			if err != nil {
				t.Fatal(err)
			}
			if n < feedPage {
				return out
			}
		}
	}
	dropped, asked := read(xids), read(nil)
	if len(asked) != 160 {
		t.Fatalf("feed: %d results, want 160", len(asked))
	}
	if !reflect.DeepEqual(dropped, asked) {
		t.Errorf("packs read in a second statement differ from packs read at once")
	}
}

func TestRecentPacks(t *testing.T) {
	packsOf := func(n int) []pack {
		recs := make([]*results.Result, n)
		for i := range recs {
			recs[i] = &results.Result{ID: fmt.Sprint(i), Details: []byte(`{}`), Error: &results.Error{Code: "x"}}
		}
		return []pack{{recs: recs[:n/2]}, {recs: recs[n/2:]}}
	}
	now := time.Unix(1e9, 0)
	var p recentPacks
	if p.wanted(now) {
		t.Error("packs wanted before any reader read")
	}
	p.held(now)
	if !p.wanted(now.Add(recentReaderIdle - time.Second)) {
		t.Error("packs not wanted while the reader reads")
	}
	if p.wanted(now.Add(recentReaderIdle)) {
		t.Error("packs wanted after the reader stopped")
	}

	original := packsOf(10)
	p.add("7", original)
	original[0].recs[0].ID = "changed by the caller"
	original[0].recs[1].Error.Code = "changed"
	rs, ok := p.take("7", 0)
	if !ok || len(rs) != 5 || rs[0].ID != "0" || rs[1].Error.Code != "x" {
		t.Fatalf("take: %v %+v", ok, rs)
	}
	if _, ok := p.take("7", 0); ok {
		t.Error("a pack taken twice")
	}
	for _, seq := range []int64{-1, 2} {
		if _, ok := p.take("7", seq); ok {
			t.Errorf("took pack %d of a transaction of two", seq)
		}
	}
	if _, ok := p.take("7", 1); !ok || len(p.txs) != 0 || p.size != 0 {
		t.Errorf("after every pack was taken: %v, %d transactions, %d results", ok, len(p.txs), p.size)
	}

	// Past the bound, the oldest transactions go first.
	per := recentPacksMax / 4
	for i := range 6 {
		p.add(fmt.Sprint(100+i), packsOf(per))
	}
	if p.size > recentPacksMax {
		t.Errorf("holds %d results, bound %d", p.size, recentPacksMax)
	}
	for i, want := range []bool{false, false, true, true, true, true} {
		if _, ok := p.txs[fmt.Sprint(100+i)]; ok != want {
			t.Errorf("transaction %d held: %v, want %v", 100+i, ok, want)
		}
	}
	if len(p.order) != 4 {
		t.Errorf("order holds %d transaction ids, want 4", len(p.order))
	}

	// A reader gone idle leaves nothing held.
	if p.wanted(now.Add(recentReaderIdle)) || len(p.txs) != 0 || p.size != 0 {
		t.Errorf("after the reader went idle: %d transactions, %d results held", len(p.txs), p.size)
	}
}
