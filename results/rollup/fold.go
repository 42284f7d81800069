package rollup

import (
	"hash/maphash"
	"sync"

	"github.com/picketnet/picket/results"
)

// PackFolder folds the packs a report reads on several cores while the
// reading goroutine goes on reading them. Each pack goes to the worker of
// its check, so that a series is always folded by one worker into its own
// report; the reports, holding different checks, are merged at the end
// (Report.Merge).
type PackFolder struct {
	seed   maphash.Seed
	decode func(dst, stored []byte) ([]byte, error)
	parts  []*Report
	work   []chan *packChunk
	cur    []*packChunk // being filled, per worker
	free   chan *packChunk
	errs   []error
	wg     sync.WaitGroup
}

// packChunk is foldChunk packs handed over at once. They are copied into
// buf, which is reused once the worker is done with it: a report reads
// megabytes of packs, and a new slice for each would make the garbage
// collector a good part of its cost.
type packChunk struct {
	rows []packRow
	buf  []byte
}

type packRow struct {
	team, endpoint, check string
	lo, hi                int // the pack is buf[lo:hi]
}

const (
	foldChunk = 64   // packs handed over at once
	packSize  = 8192 // room for a pack of 20-30 vantages, to start with
)

// NewPackFolder starts workers goroutines folding into reports grouped
// by by. decode, when not nil, turns a pack as stored into the AppendPack
// form, reusing dst when it is large enough; it runs in the workers.
func NewPackFolder(by results.GroupBy, workers int, decode func(dst, stored []byte) ([]byte, error)) (*PackFolder, error) {
	f := &PackFolder{seed: maphash.MakeSeed(), decode: decode, errs: make([]error, workers),
		cur: make([]*packChunk, workers), free: make(chan *packChunk, 8*workers)}
	for i := range workers {
		rep, err := NewReport(by)
		if err != nil {
			return nil, err
		}
		ch := make(chan *packChunk, 4)
		f.parts = append(f.parts, rep)
		f.work = append(f.work, ch)
		f.wg.Go(func() { f.fold(rep, ch, &f.errs[i]) })
	}
	return f, nil
}

// fold is a worker: it adds the packs of the chunks from ch to rep and
// keeps the first error in errp.
func (f *PackFolder) fold(rep *Report, ch <-chan *packChunk, errp *error) {
	var plain []byte
	for c := range ch {
		for _, p := range c.rows {
			if *errp != nil {
				break
			}
			pack := c.buf[p.lo:p.hi]
			if f.decode != nil {
				if plain, *errp = f.decode(plain, pack); *errp != nil {
					break
				}
				pack = plain
			}
			*errp = rep.AddPack(p.team, p.endpoint, p.check, pack)
		}
		c.rows, c.buf = c.rows[:0], c.buf[:0]
		select {
		case f.free <- c:
		default:
		}
	}
}

// Add hands a copy of pack over.
func (f *PackFolder) Add(team, endpoint, check string, pack []byte) {
	i := int(maphash.String(f.seed, check) % uint64(len(f.parts)))
	c := f.cur[i]
	if c == nil {
		select {
		case c = <-f.free:
		default:
			c = &packChunk{rows: make([]packRow, 0, foldChunk), buf: make([]byte, 0, foldChunk*packSize)}
		}
		f.cur[i] = c
	}
	lo := len(c.buf)
	c.buf = append(c.buf, pack...)
	c.rows = append(c.rows, packRow{team, endpoint, check, lo, len(c.buf)})
	if len(c.rows) == foldChunk {
		f.work[i] <- c
		f.cur[i] = nil
	}
}

// Finish waits for the workers and merges their reports into rep, which
// must hold no series yet.
func (f *PackFolder) Finish(rep *Report) error {
	f.Stop()
	for i, part := range f.parts {
		if f.errs[i] != nil {
			return f.errs[i]
		}
		if err := rep.Merge(part); err != nil {
			return err
		}
	}
	return nil
}

// Stop hands over what is left and waits for the workers. Finish calls
// it; a reader that fails calls it to end them. It may be called again.
func (f *PackFolder) Stop() {
	if f.work == nil {
		return
	}
	for i, ch := range f.work {
		if c := f.cur[i]; c != nil {
			ch <- c
			f.cur[i] = nil
		}
		close(ch)
	}
	f.work = nil
	f.wg.Wait()
}
