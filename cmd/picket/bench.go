package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/collector/loadgen"
	iconfig "github.com/picketnet/picket/internal/config"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/synth"
)

func runBench(ctx context.Context, args []string, io stdio) int {
	const usage = "usage: picket bench ingest --collector URL --vantages N --rate R --duration D | picket bench ingest --generate 30d --store URL"
	subs := []subcommand{{"ingest", "ingest --collector URL --vantages N --rate R --duration D | picket bench ingest --generate 30d --store URL",
		"load generator: post result batches and report the sustained rate, or fill a store with history"}}
	if _, code, ok := pickSubcommand(io, "bench", subs, args); !ok {
		return code
	}
	fs := newFlagSet("bench ingest", io)
	cf := addClientFlags(fs)
	vantages := fs.Int("vantages", 100, "number of simulated `vantages`")
	rate := fs.Float64("rate", 10000, "offered results per second, all vantages together")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	batchEvery := fs.Duration("batch-every", time.Second, "how often each vantage posts a batch")
	gzipOn := fs.Bool("gzip", true, "gzip the batches")
	nChecks := fs.Int("checks", 1000, "distinct checks in the generated results")
	failRatio := fs.Float64("fail-ratio", 0.02, "fraction of failed results")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	generate := fs.String("generate", "", "instead of posting, fill --store with this `span` of history (e.g. 30d) and time reports over it")
	store := fs.String("store", "", "store `URL` for --generate (sqlite:PATH or postgres://...)")
	interval := fs.Duration("interval", time.Minute, "--generate: interval between runs of each check")
	seed := fs.Uint64("seed", 1, "--generate: random seed (the data is reproducible)")
	raw := fs.Bool("raw", false, "--generate: write every result through ingest instead of the rollups they make (slow; for small spans)")
	fs.Usage = func() {
		fmt.Fprint(io.err, usage+`

Posts realistic result batches from N simulated vantages at --rate results/s
in all for --duration, and reports what the collector acknowledged per second
and its acknowledgement latency. With the admin token it enrols the vantages
(bench-<time>-NNN, in regions named bench-*) and registers one endpoint per
--checks for a team named "bench" (created when missing; a second run reuses
them), because the collector accepts results only for registered checks.
Their alerts have severity info (recorded, never notified). So run it
against a test collector, not a production one.

flags:
`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fail(io, "bench", exitUsage, errors.New(usage))
	}
	shape := loadgen.Shape{Team: "bench", Checks: *nChecks, FailRatio: *failRatio}
	if *generate != "" {
		span, err := iconfig.ParseDuration(*generate)
		if err != nil {
			return fail(io, "bench", exitUsage, fmt.Errorf("--generate: %w", err))
		}
		if *store == "" {
			return fail(io, "bench", exitUsage, errors.New("--generate needs --store sqlite:PATH or postgres://HOST/DB"))
		}
		// Day rows for the whole UTC days, hour rows for today's
		// hours, ending at the start of this hour.
		end := time.Now().UTC().Truncate(time.Hour)
		return benchGenerate(ctx, io, *store, loadgen.GenerateConfig{
			Synth:      synth.Config{Checks: *nChecks, Vantages: *vantages, Interval: *interval, Start: end.Add(-span), End: end, Seed: *seed},
			Raw:        *raw,
			HourDetail: 24 * time.Hour,
		})
	}
	base, token, err := cf.resolve(io)
	if err != nil {
		return fail(io, "bench", exitUsage, err)
	}
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Collector: base, AdminToken: token, Vantages: *vantages, Rate: *rate, Duration: *duration,
		BatchEvery: *batchEvery, Gzip: *gzipOn, Shape: shape,
		Progress: func(p loadgen.Progress) {
			fmt.Fprintf(io.err, "\r%5.0fs  %d acknowledged", p.Elapsed.Seconds(), p.Accepted)
		},
	})
	fmt.Fprintln(io.err)
	if err != nil {
		return fail(io, "bench", exitFailed, err)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(io.out, string(b))
	} else {
		fmt.Fprintln(io.out, rep)
	}
	return exitOK
}

// benchGenerate fills a store and times availability reports over it.
func benchGenerate(ctx context.Context, io stdio, storeURL string, cfg loadgen.GenerateConfig) int {
	st, err := collector.OpenStore(ctx, storeURL)
	if err != nil {
		return fail(io, "bench", exitFailed, err)
	}
	defer st.Close()
	sc := cfg.Synth
	what := "rollup rows"
	if cfg.Raw {
		what = "results"
	}
	fmt.Fprintf(io.out, "generating %s: %d checks x %d vantages every %s from %s to %s\n", what, sc.Checks, sc.Vantages, sc.Interval, sc.Start.Format(time.RFC3339), sc.End.Format(time.RFC3339))
	start := time.Now()
	lastPrint := start
	cfg.Progress = func(done int64) {
		if time.Since(lastPrint) > 5*time.Second {
			lastPrint = time.Now()
			el := time.Since(start)
			fmt.Fprintf(io.err, "%d %s in %s, %.0f/s\n", done, what, el.Round(time.Second), float64(done)/el.Seconds())
		}
	}
	n, err := loadgen.Generate(ctx, st, cfg)
	el := time.Since(start)
	if err != nil {
		return fail(io, "bench", exitFailed, err)
	}
	fmt.Fprintf(io.out, "wrote %d %s in %s (%.0f/s)\n", n, what, el.Round(time.Second), float64(n)/el.Seconds())
	for _, by := range []results.GroupBy{results.ByRegion, results.ByVantage} {
		var times []time.Duration
		var rows []results.AvailabilityRow
		for range 5 {
			t0 := time.Now()
			rows, err = st.Availability(ctx, results.ReportQuery{By: by, Since: sc.Start, Until: sc.End})
			if err != nil {
				return fail(io, "bench", exitFailed, err)
			}
			times = append(times, time.Since(t0))
		}
		var total int64
		for _, r := range rows {
			total += r.Results
		}
		slices.Sort(times)
		fmt.Fprintf(io.out, "availability report over %s by %s: %d rows covering %d results; median %s (min %s, max %s; 5 runs)\n",
			sc.End.Sub(sc.Start), by, len(rows), total, times[2].Round(time.Millisecond), times[0].Round(time.Millisecond), times[4].Round(time.Millisecond))
	}
	return exitOK
}
