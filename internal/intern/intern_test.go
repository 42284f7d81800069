package intern

import (
	"testing"
	"unsafe"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		name     string
		strs     *Strings
		values   []string
		wantKept int
		wantSame bool // the second "us" shares the first one's memory
	}{
		{"unbounded", &Strings{}, []string{"eu", "us", "ap", "us"}, 3, true},
		{"bounded, room", Bounded(2), []string{"eu", "us", "us"}, 2, true},
		{"bounded, full", Bounded(1), []string{"eu", "us", "us"}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var firstB string
			for _, v := range tc.values {
				got := tc.strs.Of([]byte(v))
				if got != v {
					t.Fatalf("Of(%q) = %q", v, got)
				}
				if v != "us" {
					continue
				}
				if firstB == "" {
					firstB = got
				} else if same := unsafe.StringData(got) == unsafe.StringData(firstB); same != tc.wantSame {
					t.Errorf("second %q shares the first one's memory: %v, want %v", v, same, tc.wantSame)
				}
			}
			if len(tc.strs.m) != tc.wantKept {
				t.Errorf("kept %d values, want %d", len(tc.strs.m), tc.wantKept)
			}
		})
	}
}

// Of allocates nothing for a value it keeps.
func TestStringsOfKeptAllocatesNothing(t *testing.T) {
	var s Strings
	b := []byte("eu-central")
	s.Of(b)
	if n := testing.AllocsPerRun(100, func() { s.Of(b) }); n != 0 {
		t.Errorf("Of of a kept value: %v allocations, want 0", n)
	}
}
