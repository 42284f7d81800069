package results

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Histogram is a sparse, mergeable histogram of latencies in milliseconds.
// Buckets grow geometrically by histGrowth, so a quantile read from it is
// within 1% of the exact one for any value between histMinMS and hours;
// rollups keep one per (check, vantage, bucket) and reports merge them.
//
// The zero value is empty and ready to use.
type Histogram struct {
	counts map[int32]uint64
	total  uint64
}

const (
	histMinMS  = 0.01 // values below share bucket 0
	histGrowth = 1.02
)

var logGrowth = math.Log(histGrowth)

func histIndex(ms float64) int32 {
	if ms <= histMinMS || math.IsNaN(ms) {
		return 0
	}
	return int32(math.Log(ms/histMinMS)/logGrowth) + 1
}

// histValue is the representative value of bucket i: the geometric middle
// of its bounds, which bounds the relative error by half a bucket.
func histValue(i int32) float64 {
	if i <= 0 {
		return histMinMS
	}
	lo := histMinMS * math.Pow(histGrowth, float64(i-1))
	return lo * math.Sqrt(histGrowth)
}

// Observe adds one value in milliseconds.
func (h *Histogram) Observe(ms float64) { h.add(histIndex(ms), 1) }

func (h *Histogram) add(i int32, n uint64) {
	if h.counts == nil {
		h.counts = make(map[int32]uint64)
	}
	h.counts[i] += n
	h.total += n
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o Histogram) {
	for i, n := range o.counts {
		h.add(i, n)
	}
}

// Count is the number of observations.
func (h Histogram) Count() uint64 { return h.total }

// Quantile returns the q-quantile (0..1) in milliseconds, 0 when empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	idx := make([]int32, 0, len(h.counts))
	for i := range h.counts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for _, i := range idx {
		seen += h.counts[i]
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(idx[len(idx)-1])
}

// histWire is the stored form: parallel arrays of bucket index and count.
type histWire struct {
	Index []int32  `json:"i"`
	Count []uint64 `json:"c"`
}

// MarshalJSON writes the histogram compactly, buckets in order.
func (h Histogram) MarshalJSON() ([]byte, error) {
	w := histWire{Index: make([]int32, 0, len(h.counts)), Count: make([]uint64, 0, len(h.counts))}
	for i := range h.counts {
		w.Index = append(w.Index, i)
	}
	slices.Sort(w.Index)
	for _, i := range w.Index {
		w.Count = append(w.Count, h.counts[i])
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var w histWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	if len(w.Index) != len(w.Count) {
		return fmt.Errorf("histogram: %d indexes but %d counts", len(w.Index), len(w.Count))
	}
	*h = Histogram{}
	for k, i := range w.Index {
		if i < 0 || i > 4096 {
			return fmt.Errorf("histogram: bucket index %d out of range", i)
		}
		h.add(i, w.Count[k])
	}
	return nil
}
