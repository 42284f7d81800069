package postgres

import (
	"hash/maphash"
	"runtime"
	"sync"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// packFolder decompresses and folds the packs a report reads on every
// core while the server is still sending them. Each pack goes to the worker of its
// check, so a series is always folded by one worker into its own report;
// the reports, holding different checks, are merged at the end
// (rollup.Report.Merge).
type packFolder struct {
	seed  maphash.Seed
	parts []*rollup.Report
	work  []chan []foldPack
	bufs  [][]foldPack
	errs  []error
	wg    sync.WaitGroup
	// free recycles the copies of packs: a report reads megabytes of
	// them, and only the few in flight need a buffer.
	free sync.Pool
}

type foldPack struct {
	team, endpoint, check string
	pack                  *[]byte // from and back to packFolder.free
}

const foldChunk = 64 // packs handed over at once

func newPackFolder(by results.GroupBy) (*packFolder, error) {
	workers := min(runtime.GOMAXPROCS(0), 8)
	f := &packFolder{seed: maphash.MakeSeed(), errs: make([]error, workers)}
	f.free.New = func() any { return new([]byte) }
	for i := range workers {
		rep, err := rollup.NewReport(by)
		if err != nil {
			return nil, err
		}
		ch := make(chan []foldPack, 4)
		f.parts = append(f.parts, rep)
		f.work = append(f.work, ch)
		f.bufs = append(f.bufs, make([]foldPack, 0, foldChunk))
		f.wg.Go(func() {
			var plain []byte
			for chunk := range ch {
				for _, p := range chunk {
					if f.errs[i] == nil {
						plain, f.errs[i] = decodePack(plain, *p.pack)
					}
					if f.errs[i] == nil {
						f.errs[i] = rep.AddPack(p.team, p.endpoint, p.check, plain)
					}
					f.free.Put(p.pack)
				}
			}
		})
	}
	return f, nil
}

// add hands a copy of pack over.
func (f *packFolder) add(team, endpoint, check string, pack []byte) {
	i := int(maphash.String(f.seed, check) % uint64(len(f.parts)))
	b := f.free.Get().(*[]byte)
	*b = append((*b)[:0], pack...)
	f.bufs[i] = append(f.bufs[i], foldPack{team, endpoint, check, b})
	if len(f.bufs[i]) == foldChunk {
		f.work[i] <- f.bufs[i]
		f.bufs[i] = make([]foldPack, 0, foldChunk)
	}
}

// finish waits for the workers and merges their reports into rep, which
// must hold no series yet.
func (f *packFolder) finish(rep *rollup.Report) error {
	f.stop()
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

// stop hands over what is left and waits for the workers; finish calls
// it, and a reader that fails calls it to end them.
func (f *packFolder) stop() {
	if f.work == nil {
		return
	}
	for i, ch := range f.work {
		if len(f.bufs[i]) > 0 {
			ch <- f.bufs[i]
		}
		close(ch)
	}
	f.work = nil
	f.wg.Wait()
}
