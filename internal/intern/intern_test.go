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

// Field gives the value kept for the field, and the same string as Of for
// a value seen in another field.
func TestStringsField(t *testing.T) {
	var s Strings
	region := s.Field(2, []byte("eu-central"))
	if got := s.Field(2, []byte("eu-central")); unsafe.StringData(got) != unsafe.StringData(region) {
		t.Error("the field's value again is a new string")
	}
	if got := s.Field(3, []byte("eu-central")); unsafe.StringData(got) != unsafe.StringData(region) {
		t.Error("the value in another field is a new string")
	}
	if got := s.Field(2, []byte("us-east")); got != "us-east" {
		t.Errorf("Field(2, us-east) = %q", got)
	}
	if got := s.Field(2, nil); got != "" {
		t.Errorf("Field(2, nil) = %q", got)
	}
	b := []byte("us-east")
	if n := testing.AllocsPerRun(100, func() { s.Field(2, b) }); n != 0 {
		t.Errorf("Field of the last value: %v allocations, want 0", n)
	}
}
