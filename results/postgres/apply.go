package postgres

import (
	"cmp"
	"slices"

	"github.com/picketnet/picket/results/rollup"
)

// applyMinutesHours is rollup.ApplyDeltas for the rows compaction writes,
// minute and hour rows: it skips the day and week rows, which are derived
// later (packs.go), and the sorting of every key, which together cost
// compaction more than half its CPU. Deltas are oldest first; they become
// rows of the result. It returns the new full contents of every minute
// and hour row the deltas touch.
func applyMinutesHours(deltas []*rollup.Row, load rollup.Loader) ([]*rollup.Row, error) {
	if len(deltas) == 0 {
		return nil, nil
	}
	// Sum the deltas of one minute, in order, so that the newest labels
	// win, as in rollup.ApplyDeltas.
	byKey := make(map[rollup.Key]*rollup.Row, len(deltas))
	minutes := make([]*rollup.Row, 0, len(deltas))
	hours := make(map[rollup.Key]*rollup.Row)
	keys := make([]rollup.Key, 0, len(deltas)+len(deltas)/8)
	for _, d := range deltas {
		if m := byKey[d.Key]; m != nil {
			m.Merge(d)
			continue
		}
		byKey[d.Key] = d
		minutes = append(minutes, d)
		keys = append(keys, d.Key)
		hk := hourKey(d.Key)
		if _, ok := hours[hk]; !ok {
			hours[hk] = nil
			keys = append(keys, hk)
		}
	}
	stored, err := load(keys)
	if err != nil {
		return nil, err
	}
	// By time, so that an hour row takes the labels of its latest minute.
	slices.SortStableFunc(minutes, func(a, b *rollup.Row) int { return cmp.Compare(a.Bucket, b.Bucket) })
	out := make([]*rollup.Row, 0, len(minutes)+len(hours))
	for _, d := range minutes {
		if old := stored[d.Key]; old == nil {
			// A new minute: the delta is the row, and also what its hour
			// gains.
			d.FailedMinutes, d.DownMinutes = minuteState(d.Count, d.Failures)
			out = append(out, d)
		} else {
			nw := &rollup.Row{Key: d.Key}
			nw.Merge(old)
			nw.Merge(d)
			nw.FailedMinutes, nw.DownMinutes = minuteState(nw.Count, nw.Failures)
			wasFailed, wasDown := minuteState(old.Count, old.Failures)
			out = append(out, nw)
			d.FailedMinutes, d.DownMinutes = nw.FailedMinutes-wasFailed, nw.DownMinutes-wasDown
		}
		hk := hourKey(d.Key)
		h := hours[hk]
		if h == nil {
			h = &rollup.Row{Key: hk}
			if old := stored[hk]; old != nil {
				h.Merge(old)
			}
			hours[hk] = h
		}
		h.Merge(d)
	}
	for _, h := range hours {
		out = append(out, h)
	}
	return out, nil
}

func hourKey(k rollup.Key) rollup.Key {
	k.Level, k.Bucket = rollup.Hour, rollup.LevelBucket(rollup.Hour, k.Bucket)
	return k
}

// minuteState is whether a minute of count results with failures of
// them is a failed round and a down minute (see package rollup).
func minuteState(count, failures int64) (failed, down int64) {
	if failures > 0 {
		failed = 1
	}
	if 2*failures > count {
		down = 1
	}
	return failed, down
}
