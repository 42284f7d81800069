package sqlite

import (
	"hash/maphash"
	"sync"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// packFolder folds the packs of a report on several cores. The reading
// goroutine hands each pack to the worker of its check, so that a
// series is always folded by one worker, and each worker keeps its own
// report; the reports are merged at the end (rollup.Report.Merge).
type packFolder struct {
	seed  maphash.Seed
	parts []*rollup.Report
	work  []chan *packChunk
	cur   []*packChunk // being filled, per worker
	free  chan *packChunk
	errs  []error
	wg    sync.WaitGroup
}

// packChunk is foldChunk packs handed over at once. Their series are
// copied into buf, which is reused once the worker is done with it: a
// report reads megabytes of packs, and a new slice for each would make
// the garbage collector a good part of its cost.
type packChunk struct {
	rows []packRow
	buf  []byte
}

type packRow struct {
	team, endpoint, check string
	lo, hi                int // the series is buf[lo:hi]
}

const (
	foldChunk = 64   // packs handed over at once
	packSize  = 8192 // room for a pack of 20-30 vantages, to start with
)

func newPackFolder(by results.GroupBy, workers int) (*packFolder, error) {
	f := &packFolder{seed: maphash.MakeSeed(), errs: make([]error, workers),
		cur: make([]*packChunk, workers), free: make(chan *packChunk, 8*workers)}
	for i := range workers {
		rep, err := rollup.NewReport(by)
		if err != nil {
			return nil, err
		}
		ch := make(chan *packChunk, 4)
		f.parts = append(f.parts, rep)
		f.work = append(f.work, ch)
		f.wg.Go(func() {
			for c := range ch {
				for _, p := range c.rows {
					if f.errs[i] == nil {
						f.errs[i] = rep.AddPack(p.team, p.endpoint, p.check, c.buf[p.lo:p.hi])
					}
				}
				c.rows, c.buf = c.rows[:0], c.buf[:0]
				select {
				case f.free <- c:
				default:
				}
			}
		})
	}
	return f, nil
}

// add hands a pack over; series is copied.
func (f *packFolder) add(team, endpoint, check string, series []byte) {
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
	c.buf = append(c.buf, series...)
	c.rows = append(c.rows, packRow{team, endpoint, check, lo, len(c.buf)})
	if len(c.rows) == foldChunk {
		f.work[i] <- c
		f.cur[i] = nil
	}
}

// finish waits for the workers and merges their reports into rep.
func (f *packFolder) finish(rep *rollup.Report) error {
	for i, ch := range f.work {
		if c := f.cur[i]; c != nil {
			ch <- c
		}
		close(ch)
	}
	f.wg.Wait()
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
