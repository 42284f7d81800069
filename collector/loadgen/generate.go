package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
	"github.com/picketnet/picket/results/synth"
)

// GenerateConfig is a history to write into a store.
type GenerateConfig struct {
	// Synth is the generated fleet and window (results/synth).
	Synth synth.Config
	// Raw writes every result through Ingest, rollups included, as a
	// collector would. Otherwise the rollup rows the results would produce
	// are written directly (day rows, and hour rows for the last
	// HourDetail), which is how months of 1,000 checks × 20 vantages fit in
	// minutes: reports read only rollups.
	Raw        bool
	HourDetail time.Duration
	// Progress, when set, is called after each write with the records (raw)
	// or rows (rollups) written so far.
	Progress func(done int64)
}

// Ingester is the part of a store raw generation writes to.
type Ingester interface {
	Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error)
}

// RollupLoader is implemented by stores that can bulk-load rollup rows
// (results/sqlite and results/postgres).
type RollupLoader interface {
	LoadRollups(ctx context.Context, rows []*rollup.Row) error
}

// Generate writes the history to st and returns how many records (raw) or
// rollup rows it wrote. The same configuration always writes the same
// data, so an interrupted run can be repeated.
func Generate(ctx context.Context, st any, c GenerateConfig) (int64, error) {
	var done int64
	if c.Raw {
		ing, ok := st.(Ingester)
		if !ok {
			return 0, fmt.Errorf("generate: %T cannot ingest", st)
		}
		err := c.Synth.Results(results.MaxBatchRecords, func(batch []results.Result) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := ing.Ingest(ctx, batch); err != nil {
				return fmt.Errorf("generate: ingest: %w", err)
			}
			done += int64(len(batch))
			if c.Progress != nil {
				c.Progress(done)
			}
			return nil
		})
		return done, err
	}
	ld, ok := st.(RollupLoader)
	if !ok {
		return 0, errors.New("generate: this store cannot bulk-load rollups; use raw generation")
	}
	err := c.Synth.Rollups(c.HourDetail, func(rows []*rollup.Row) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ld.LoadRollups(ctx, rows); err != nil {
			return fmt.Errorf("generate: load rollups: %w", err)
		}
		done += int64(len(rows))
		if c.Progress != nil {
			c.Progress(done)
		}
		return nil
	})
	return done, err
}
