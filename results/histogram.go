package results

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Histogram is a mergeable histogram of latencies in milliseconds.
// Buckets grow geometrically by histGrowth, so a quantile read from it is
// within 1% of the exact one for any value between histMinMS and hours;
// rollups keep one per (check, vantage, bucket) and reports merge them.
//
// Counts are kept densely from the lowest to the highest bucket seen: the
// latencies of one check from one vantage span a narrow range of buckets,
// so merging is an addition of two short arrays, which is what makes
// reports over millions of rollups cheap.
//
// The zero value is empty and ready to use. Like a map, a copied Histogram
// shares its counts with the original.
type Histogram struct {
	lo     int32    // bucket index of counts[0]
	counts []uint64 // counts[i] is the count of bucket lo+i
	total  uint64
}

const (
	histMinMS  = 0.01 // values below share bucket 0
	histGrowth = 1.02
	// histMaxIndex bounds a decoded bucket index; 24h is bucket ~1160.
	histMaxIndex = 4096
)

var logGrowth = math.Log(histGrowth)

func histIndex(ms float64) int32 {
	if ms <= histMinMS || math.IsNaN(ms) {
		return 0
	}
	return min(int32(math.Log(ms/histMinMS)/logGrowth)+1, histMaxIndex)
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

// ObserveN adds n observations of one value in milliseconds.
func (h *Histogram) ObserveN(ms float64, n uint64) { h.add(histIndex(ms), n) }

// HistogramBuckets calls fn with the lower bound and representative value
// of every bucket from the one holding fromMS to the one holding toMS, so
// that a generator can fill a histogram from a distribution's CDF.
func HistogramBuckets(fromMS, toMS float64, fn func(lowerMS, valueMS float64)) {
	for i := histIndex(fromMS); i <= histIndex(toMS); i++ {
		lo := 0.0
		if i > 0 {
			lo = histMinMS * math.Pow(histGrowth, float64(i-1))
		}
		fn(lo, histValue(i))
	}
}

// grow makes buckets [lo, hi] addressable.
func (h *Histogram) grow(lo, hi int32) {
	if len(h.counts) == 0 {
		h.lo = lo
		h.counts = make([]uint64, hi-lo+1)
		return
	}
	curHi := h.lo + int32(len(h.counts)) - 1
	if lo >= h.lo && hi <= curHi {
		return
	}
	nlo, nhi := min(lo, h.lo), max(hi, curHi)
	n := make([]uint64, nhi-nlo+1)
	copy(n[h.lo-nlo:], h.counts)
	h.lo, h.counts = nlo, n
}

func (h *Histogram) add(i int32, n uint64) {
	if n == 0 {
		return
	}
	h.grow(i, i)
	h.counts[i-h.lo] += n
	h.total += n
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o Histogram) {
	if o.total == 0 {
		return
	}
	h.grow(o.lo, o.lo+int32(len(o.counts))-1)
	off := o.lo - h.lo
	dst := h.counts[off : off+int32(len(o.counts))]
	for i, c := range o.counts {
		dst[i] += c
	}
	h.total += o.total
}

// Count is the number of observations.
func (h Histogram) Count() uint64 { return h.total }

// Quantile returns the q-quantile (0..1) in milliseconds, 0 when empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	last := h.lo
	for k, c := range h.counts {
		if c == 0 {
			continue
		}
		last = h.lo + int32(k)
		seen += c
		if seen >= rank {
			return histValue(last)
		}
	}
	return histValue(last)
}

// The binary form, used by the stores for rollups, is a sequence of runs
// of non-empty buckets: uvarint gap (buckets skipped since the end of the
// previous run, or the first index), uvarint run length, then the run's
// counts as uvarints. Typical rollups encode in one byte per bucket.

// AppendBinary appends the binary form of h to b.
func (h Histogram) AppendBinary(b []byte) ([]byte, error) {
	prevEnd := int32(0)
	k := 0
	for k < len(h.counts) {
		if h.counts[k] == 0 {
			k++
			continue
		}
		start := k
		for k < len(h.counts) && h.counts[k] != 0 {
			k++
		}
		idx := h.lo + int32(start)
		b = binary.AppendUvarint(b, uint64(idx-prevEnd))
		b = binary.AppendUvarint(b, uint64(k-start))
		for _, c := range h.counts[start:k] {
			b = binary.AppendUvarint(b, c)
		}
		prevEnd = h.lo + int32(k)
	}
	return b, nil
}

// MarshalBinary returns the binary form of h.
func (h Histogram) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

// UnmarshalBinary replaces h with the histogram encoded in b.
func (h *Histogram) UnmarshalBinary(b []byte) error {
	*h = Histogram{}
	return h.MergeBinary(b)
}

var errHistCorrupt = errors.New("histogram: corrupt binary form")

// MergeBinary adds the histogram encoded in b (by AppendBinary) to h
// without decoding it into a Histogram first. On error h may hold part of
// b's observations.
func (h *Histogram) MergeBinary(b []byte) error {
	end := int64(0)
	for len(b) > 0 {
		gap, n := uvarint(b)
		if n <= 0 {
			return errHistCorrupt
		}
		b = b[n:]
		run, n := uvarint(b)
		if n <= 0 || run == 0 {
			return errHistCorrupt
		}
		b = b[n:]
		if gap > histMaxIndex || run > histMaxIndex || end+int64(gap)+int64(run)-1 > histMaxIndex {
			return fmt.Errorf("histogram: bucket index %d out of range", end+int64(gap)+int64(run)-1)
		}
		start := end + int64(gap)
		end = start + int64(run)
		h.grow(int32(start), int32(end-1))
		dst := h.counts[int32(start)-h.lo : int32(end)-h.lo]
		for i := range dst {
			c, n := uvarint(b)
			if n <= 0 {
				return errHistCorrupt
			}
			b = b[n:]
			dst[i] += c
			h.total += c
		}
	}
	return nil
}

// uvarint is binary.Uvarint with a fast path for the one-byte values that
// most counts are.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

// histWire is the JSON form: parallel arrays of bucket index and count.
type histWire struct {
	Index []int32  `json:"i"`
	Count []uint64 `json:"c"`
}

// MarshalJSON writes the histogram compactly, buckets in order.
func (h Histogram) MarshalJSON() ([]byte, error) {
	w := histWire{Index: []int32{}, Count: []uint64{}}
	for k, c := range h.counts {
		if c != 0 {
			w.Index = append(w.Index, h.lo+int32(k))
			w.Count = append(w.Count, c)
		}
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
		if i < 0 || i > histMaxIndex {
			return fmt.Errorf("histogram: bucket index %d out of range", i)
		}
		h.add(i, w.Count[k])
	}
	return nil
}
