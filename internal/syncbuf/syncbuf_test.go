package syncbuf

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestConcurrentWritesAndLines(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "level=INFO writer=%d line=%d\n", w, i)
				_ = b.Lines("writer=0") // a reader while others write
			}
		})
	}
	wg.Wait()
	if n := len(b.Lines("")); n != 400 {
		t.Errorf("%d lines, want 400", n)
	}
	got := b.Lines("writer=2 line=9")
	want := []string{"level=INFO writer=2 line=9", "level=INFO writer=2 line=90", "level=INFO writer=2 line=91", "level=INFO writer=2 line=92",
		"level=INFO writer=2 line=93", "level=INFO writer=2 line=94", "level=INFO writer=2 line=95", "level=INFO writer=2 line=96",
		"level=INFO writer=2 line=97", "level=INFO writer=2 line=98", "level=INFO writer=2 line=99"}
	if !slices.Equal(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	var empty Buffer
	if l := empty.Lines(""); l != nil || empty.String() != "" {
		t.Errorf("empty buffer: %q %q", l, empty.String())
	}
}
