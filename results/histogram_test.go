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
