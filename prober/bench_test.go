package prober

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/picketnet/picket/vantage"
)

// BenchmarkProber10kChecks runs `picket prober` as its own process with
// 10,000 tcp checks on 10s intervals against a local listener, shipping
// to a stand-in collector, and reports the scheduling lag (p50, p99) and
// the process's CPU and RSS over a steady-state window. The window is
// PICKET_BENCH_DURATION (default 30s) after a 12s warm-up, so run it once:
//
//	go test -run '^$' -bench Prober10k -benchtime 1x ./prober/
func BenchmarkProber10kChecks(b *testing.B) {
	window := 30 * time.Second
	if v := os.Getenv("PICKET_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("PICKET_BENCH_DURATION: %v", err)
		}
		window = d
	}
	bin := buildPicket(b)
	col := newStandin(b, testIdentity.ID, "vantage-token")
	target := listener(b)
	const n = 10000
	cs := make([]vantage.AssignedCheck, n)
	for i := range cs {
		cs[i] = vantage.AssignedCheck{ID: fmt.Sprintf("ep%05d/tcp", i), Endpoint: fmt.Sprintf("ep%05d", i), Team: "bench",
			Target: target, Spec: []byte(`{"kind":"tcp","interval":"10s","timeout":"5s"}`)}
	}
	col.assign(cs...)

	dir := b.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("vantage-token"), 0o600)
	metrics := freePort(b)
	config := filepath.Join(dir, "prober.yaml")
	os.WriteFile(config, fmt.Appendf(nil, `vantage: {id: %s, region: %s, provider: %s, asn: %d}
collectors: [%s]
token_file: %s
spool: {dir: %s}
metrics_listen: %s
discovery: {disabled: true}
`, testIdentity.ID, testIdentity.Region, testIdentity.Provider, testIdentity.ASN, col.URL(), tokenFile, filepath.Join(dir, "spool"), metrics), 0o600)

	for b.Loop() {
		p := startPicket(b, bin, config)
		warm := time.Now().Add(12 * time.Second)
		for time.Now().Before(warm) {
			time.Sleep(200 * time.Millisecond)
		}
		lag0 := scrapeHistogram(b, metrics, "picket_prober_scheduling_lag_seconds")
		cpu0 := procCPU(b, p.cmd.Process.Pid)
		stored0 := col.storedCount()
		start := time.Now()
		time.Sleep(window)
		lag1 := scrapeHistogram(b, metrics, "picket_prober_scheduling_lag_seconds")
		cpu1 := procCPU(b, p.cmd.Process.Pid)
		elapsed := time.Since(start)
		stored := col.storedCount() - stored0
		rss, hwm := procMem(b, p.cmd.Process.Pid)
		p.cmd.Process.Kill()
		<-p.done

		runs := lag1.count - lag0.count
		b.ReportMetric(float64(runs)/elapsed.Seconds(), "runs/s")
		b.ReportMetric(float64(stored)/elapsed.Seconds(), "stored/s")
		b.ReportMetric(lag1.sub(lag0).quantile(0.50)*1000, "lag-p50-ms")
		b.ReportMetric(lag1.sub(lag0).quantile(0.99)*1000, "lag-p99-ms")
		b.ReportMetric((cpu1-cpu0)/elapsed.Seconds()*100, "cpu-%")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
	}
}

type hist struct {
	count  uint64
	bounds []float64
	cum    []uint64
}

func (h hist) sub(o hist) hist {
	out := hist{count: h.count - o.count, bounds: h.bounds, cum: make([]uint64, len(h.cum))}
	for i := range h.cum {
		out.cum[i] = h.cum[i] - o.cum[i]
	}
	return out
}

// quantile interpolates linearly within the bucket, as PromQL's
// histogram_quantile does.
func (h hist) quantile(q float64) float64 {
	rank := q * float64(h.count)
	prevB, prevC := 0.0, uint64(0)
	for i, c := range h.cum {
		if float64(c) >= rank {
			if c == prevC {
				return h.bounds[i]
			}
			return prevB + (h.bounds[i]-prevB)*(rank-float64(prevC))/float64(c-prevC)
		}
		prevB, prevC = h.bounds[i], c
	}
	return prevB
}

func scrapeHistogram(b *testing.B, addr, name string) hist {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	mf, ok := mfs[name]
	if !ok || len(mf.GetMetric()) == 0 {
		b.Fatalf("no %s in the metrics", name)
	}
	hm := mf.GetMetric()[0].GetHistogram()
	h := hist{count: hm.GetSampleCount()}
	bs := append([]*dto.Bucket(nil), hm.GetBucket()...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].GetUpperBound() < bs[j].GetUpperBound() })
	for _, bk := range bs {
		h.bounds = append(h.bounds, bk.GetUpperBound())
		h.cum = append(h.cum, bk.GetCumulativeCount())
	}
	return h
}

// procCPU is the user+system CPU seconds of pid.
func procCPU(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// procMem is the current and peak resident set size of pid, in bytes.
func procMem(b *testing.B, pid int) (rss, hwm int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}
