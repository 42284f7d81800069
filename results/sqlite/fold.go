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
	work  []chan []packRow
	bufs  [][]packRow
	errs  []error
	wg    sync.WaitGroup
}

type packRow struct {
	team, endpoint, check string
	series                []byte
}

const foldChunk = 64 // packs handed over at once

func newPackFolder(by results.GroupBy, workers int) (*packFolder, error) {
	f := &packFolder{seed: maphash.MakeSeed(), errs: make([]error, workers)}
	for i := range workers {
		rep, err := rollup.NewReport(by)
		if err != nil {
			return nil, err
		}
		ch := make(chan []packRow, 4)
		f.parts = append(f.parts, rep)
		f.work = append(f.work, ch)
		f.bufs = append(f.bufs, make([]packRow, 0, foldChunk))
		f.wg.Go(func() {
			for chunk := range ch {
				for _, p := range chunk {
					if f.errs[i] == nil {
						f.errs[i] = rep.AddPack(p.team, p.endpoint, p.check, p.series)
					}
				}
			}
		})
	}
	return f, nil
}

// add hands a pack over; series is copied.
func (f *packFolder) add(team, endpoint, check string, series []byte) {
	i := int(maphash.String(f.seed, check) % uint64(len(f.parts)))
	f.bufs[i] = append(f.bufs[i], packRow{team, endpoint, check, append([]byte(nil), series...)})
	if len(f.bufs[i]) == foldChunk {
		f.work[i] <- f.bufs[i]
		f.bufs[i] = make([]packRow, 0, foldChunk)
	}
}

// finish waits for the workers and merges their reports into rep.
func (f *packFolder) finish(rep *rollup.Report) error {
	for i, ch := range f.work {
		if len(f.bufs[i]) > 0 {
			ch <- f.bufs[i]
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
