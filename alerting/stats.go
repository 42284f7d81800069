package alerting

import (
	"math"
	"slices"
)

// quantile returns the q-quantile of xs (nearest rank), 0 when empty.
// xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// mad is the median absolute deviation from the median.
func mad(xs []float64) float64 {
	m := median(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - m)
	}
	return median(dev)
}

// robustLimit is the highest value still consistent with a baseline:
// max(median + k·MAD, median·(1+ratio), median + floor). The floor keeps
// sub-millisecond jitter on quiet links from looking like an anomaly; the
// ratio keeps a very stable baseline (MAD ≈ 0) from alerting on noise.
func robustLimit(baseline []float64, k, ratio, floor float64) (limit, med float64) {
	med = median(baseline)
	return max(med+k*mad(baseline), med*(1+ratio), med+floor), med
}
