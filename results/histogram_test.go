package results

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Quantiles from the histogram stay within 1% of exact ones, also after a
// JSON round trip and a merge, which is what rollup-based reports rely on.
func TestHistogramQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	var all []float64
	for i := range 20000 {
		v := math.Exp(rng.NormFloat64()*1.2 + 4) // log-normal around 55 ms
		all = append(all, v)
		if i%2 == 0 {
			a.Observe(v)
		} else {
			b.Observe(v)
		}
	}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var b2 Histogram
	if err := json.Unmarshal(raw, &b2); err != nil {
		t.Fatal(err)
	}
	a.Merge(b2)
	if a.Count() != uint64(len(all)) {
		t.Fatalf("count %d, want %d", a.Count(), len(all))
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		exact := all[int(math.Ceil(q*float64(len(all))))-1]
		got := a.Quantile(q)
		if rel := math.Abs(got-exact) / exact; rel > 0.01 {
			t.Errorf("q%.2f = %.3f, exact %.3f (%.2f%% off)", q, got, exact, rel*100)
		}
	}
}

func TestHistogramEmptyAndBad(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	for _, in := range []string{`{"i":[1,2],"c":[1]}`, `{"i":[-5],"c":[1]}`, `[]`} {
		if err := json.Unmarshal([]byte(in), &h); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

// The binary form the stores keep round-trips, and merging it straight
// into an accumulator equals merging the decoded histogram.
func TestHistogramBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b Histogram
	for range 5000 {
		a.Observe(math.Exp(rng.NormFloat64()*0.3 + 3))
		b.Observe(math.Exp(rng.NormFloat64()*2 + 5)) // wide, with gaps
	}
	b.Observe(0) // bucket 0
	for _, h := range []Histogram{a, b, {}} {
		raw, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Histogram
		if err := back.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		j1, _ := json.Marshal(h)
		j2, _ := json.Marshal(back)
		if string(j1) != string(j2) {
			t.Fatalf("round trip changed the histogram:\n%s\n%s", j1, j2)
		}
	}
	rb, _ := b.MarshalBinary()
	want := Histogram{}
	want.Merge(a)
	want.Merge(b)
	got := Histogram{}
	got.Merge(a)
	if err := got.MergeBinary(rb); err != nil {
		t.Fatal(err)
	}
	if got.Count() != want.Count() {
		t.Fatalf("count %d, want %d", got.Count(), want.Count())
	}
	for _, q := range []float64{0.01, 0.5, 0.99, 1} {
		if got.Quantile(q) != want.Quantile(q) {
			t.Errorf("q%v: %v, want %v", q, got.Quantile(q), want.Quantile(q))
		}
	}
	for _, bad := range [][]byte{{0x80}, {1, 0}, {1, 3, 1}, {0xff, 0xff, 0x03, 1, 1}} {
		var h Histogram
		if err := h.UnmarshalBinary(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func FuzzHistogramBinary(f *testing.F) {
	var h Histogram
	for _, v := range []float64{1, 2, 50, 51, 3000} {
		h.Observe(v)
	}
	seed, _ := h.MarshalBinary()
	f.Add(seed)
	f.Add([]byte{0, 1, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Histogram
		if err := h.UnmarshalBinary(b); err != nil {
			return
		}
		again, _ := h.MarshalBinary()
		var h2 Histogram
		if err := h2.UnmarshalBinary(again); err != nil || h2.Count() != h.Count() {
			t.Fatalf("re-encoding failed: %v", err)
		}
	})
}
