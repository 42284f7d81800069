package postgres

import (
	"sync"
	"time"

	"github.com/picketnet/picket/results"
)

// recentPacks hands the feed's reader (feed.go) the results that this
// process stored in its latest transactions, pack by pack, so that the
// reader takes them from memory instead of having the server send their
// packs back and decoding them: the alert evaluator usually runs in the
// replica that stored most of what it reads, and reading and decoding
// packs was a fifteenth of that replica's CPU under load.
//
// Only what the feed reads decides what is new and in what order: a
// page of the feed names the packs it delivers (transaction id and seq),
// and a pack is taken from here only when it is named, and read from the
// database otherwise. A pack's seq is its place among its transaction's
// packs (copyPacks), so the ingest side knows it without asking the
// server.
type recentPacks struct {
	mu     sync.Mutex
	txs    map[string]*recentTx // by transaction id (xid8 text)
	order  []string             // transaction ids, oldest first
	size   int                  // results held
	readAt time.Time            // the reader's last page
}

// recentTx is what one transaction stored: its packs' results, by seq.
// A pack is nil once taken.
type recentTx struct {
	packs [][]results.Result
	left  int // packs not taken
	size  int
}

const (
	// recentPacksMax bounds the results held (about 400 bytes each) when
	// the reader falls behind.
	recentPacksMax = 150_000
	// recentReaderIdle is how long after the reader's last page ingest
	// stops keeping packs: the evaluator runs in one replica at a time,
	// and the others' packs would only be dropped unread.
	recentReaderIdle = 10 * time.Second
)

// wanted tells whether a transaction committing now should keep its
// packs for the reader. Once the reader is idle, what is held is dropped:
// its next page, if any, reads from the database.
func (p *recentPacks) wanted(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.readAt) < recentReaderIdle {
		return true
	}
	if len(p.txs) > 0 {
		p.txs, p.order, p.size = nil, nil, 0
	}
	return false
}

// add keeps the packs that the committed transaction xid stored, in the
// order of their seq. The results are copied: the caller's are its own
// again once Ingest returns.
func (p *recentPacks) add(xid string, packs []pack) {
	n := 0
	for _, pk := range packs {
		n += len(pk.recs)
	}
	if n == 0 || n > recentPacksMax {
		return
	}
	kept := make([]results.Result, 0, n)
	t := &recentTx{packs: make([][]results.Result, len(packs)), left: len(packs), size: n}
	for i, pk := range packs {
		from := len(kept)
		for _, r := range pk.recs {
			kept = append(kept, r.Clone())
		}
		t.packs[i] = kept[from:len(kept):len(kept)]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.txs == nil {
		p.txs = make(map[string]*recentTx)
	}
	p.txs[xid] = t
	p.order = append(p.order, xid)
	p.size += n
	for len(p.order) > 0 && (p.size > recentPacksMax || p.txs[p.order[0]] == nil) {
		if old := p.txs[p.order[0]]; old != nil {
			p.size -= old.size
			delete(p.txs, p.order[0])
		}
		p.order[0] = ""
		p.order = p.order[1:]
	}
}

// held returns the transaction ids whose packs are held, for a page of
// the feed about to be read at now, which keeps ingest keeping them.
func (p *recentPacks) held(now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readAt = now
	xids := make([]string, 0, len(p.txs))
	for xid := range p.txs {
		xids = append(xids, xid)
	}
	return xids
}

// take returns the results of pack seq of transaction xid, and forgets
// them: the feed delivers each pack once. ok is false when they are not
// held.
func (p *recentPacks) take(xid string, seq int64) (rs []results.Result, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.txs[xid]
	if t == nil || seq < 0 || seq >= int64(len(t.packs)) || t.packs[seq] == nil {
		return nil, false
	}
	rs, t.packs[seq] = t.packs[seq], nil
	if t.left--; t.left == 0 {
		p.size -= t.size
		delete(p.txs, xid)
	}
	return rs, true
}
