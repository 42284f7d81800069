package alerting

import (
	"slices"
	"testing"
)

// A presized window's six slices share one allocation: filling one past
// its room must not write into the next.
func TestPresizedWindowSlicesAreApart(t *testing.T) {
	for _, n := range []int{0, 1, 3, maxPresized + 5} {
		var l latencyState
		l.presize(n)
		want := make([][]float64, 1+len(l.phases))
		for v := range 2*n + 7 {
			l.samples = append(l.samples, float64(v))
			want[0] = append(want[0], float64(v))
			for i := range l.phases {
				p := float64(1000*(i+1) + v)
				l.phases[i] = append(l.phases[i], p)
				want[i+1] = append(want[i+1], p)
			}
		}
		got := append([][]float64{l.samples}, l.phases[:]...)
		for i := range got {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("presize(%d): slice %d holds %v, want %v", n, i, got[i], want[i])
			}
		}
	}
}
