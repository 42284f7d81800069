package reporting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The wire form of the Reporting API envelope, as browsers send it.
type wireReport struct {
	Age       int64    `json:"age"` // milliseconds
	Type      string   `json:"type"`
	URL       string   `json:"url"`
	UserAgent string   `json:"user_agent"`
	Body      wireBody `json:"body"`
}

type wireBody struct {
	ElapsedMS        int64   `json:"elapsed_time"`
	Method           string  `json:"method"`
	Phase            string  `json:"phase"`
	Protocol         string  `json:"protocol"`
	Referrer         string  `json:"referrer"` // always empty: never sent
	SamplingFraction float64 `json:"sampling_fraction"`
	ServerIP         string  `json:"server_ip"`
	StatusCode       int     `json:"status_code"`
	Type             string  `json:"type"`
}

// item is a queued report and when its request happened (Unix ms), from
// which its age is computed when it is finally sent.
type item struct {
	At     int64      `json:"at"`
	Report wireReport `json:"report"`
}

// maxBatch is the most reports in one upload (the collector's default cap)
// and in one queue segment.
const maxBatch = 100

func encodeEnvelope(rs []wireReport) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rs); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// queue is the disk queue: one file per batch of at most maxBatch reports,
// named seg-<unix nanos>-<seq>-<count>.json so that the names sort oldest
// first and say how many reports they hold. A file is written to a
// temporary name, synced and renamed, so a crash leaves whole segments.
type queue struct {
	dir string
	max int64

	mu      sync.Mutex
	segs    []segment // oldest first
	bytes   int64
	dropped int64
	seq     int
}

type segment struct {
	name  string
	size  int64
	count int
}

func openQueue(dir string, max int64) (*queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("reporting: queue: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reporting: queue: %w", err)
	}
	q := &queue{dir: dir, max: max}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name)) //nolint:errcheck // a write the last run did not finish
			continue
		}
		count, ok := segmentCount(name)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		q.segs = append(q.segs, segment{name: name, size: info.Size(), count: count})
		q.bytes += info.Size()
	}
	sort.Slice(q.segs, func(i, j int) bool { return q.segs[i].name < q.segs[j].name })
	return q, nil
}

func segmentCount(name string) (int, bool) {
	if !strings.HasPrefix(name, "seg-") || !strings.HasSuffix(name, ".json") {
		return 0, false
	}
	parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, "seg-"), ".json"), "-")
	if len(parts) != 3 {
		return 0, false
	}
	n, err := strconv.Atoi(parts[2])
	return n, err == nil && n > 0
}

// push writes items as a new segment, then drops the oldest segments
// while the queue is over its size.
func (q *queue) push(items []item) error {
	data, err := json.Marshal(items)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	name := fmt.Sprintf("seg-%020d-%06d-%d.json", time.Now().UnixNano(), q.seq%1000000, len(items))
	path := filepath.Join(q.dir, name)
	if err := writeFileSync(path, data); err != nil {
		return fmt.Errorf("reporting: queue: %w", err)
	}
	q.segs = append(q.segs, segment{name: name, size: int64(len(data)), count: len(items)})
	q.bytes += int64(len(data))
	for q.bytes > q.max && len(q.segs) > 1 {
		old := q.segs[0]
		q.removeLocked(old.name, old.count)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() //nolint:errcheck // best effort: the rename is what matters
		d.Close()
	}
	return nil
}

func (q *queue) segments() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]string, len(q.segs))
	for i, s := range q.segs {
		out[i] = s.name
	}
	return out
}

func (q *queue) read(name string) ([]item, error) {
	data, err := os.ReadFile(filepath.Join(q.dir, name))
	if err != nil {
		return nil, err
	}
	var items []item
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	return items, nil
}

// remove deletes a segment; dropped counts its reports as lost (0 when
// they were delivered).
func (q *queue) remove(name string, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.removeLocked(name, dropped)
}

func (q *queue) removeLocked(name string, dropped int) {
	for i, s := range q.segs {
		if s.name == name {
			q.segs = append(q.segs[:i], q.segs[i+1:]...)
			q.bytes -= s.size
			break
		}
	}
	q.dropped += int64(dropped)
	os.Remove(filepath.Join(q.dir, name)) //nolint:errcheck // gone already is fine
}

func (q *queue) stats(memDropped int64) (count int, bytes, dropped int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.segs {
		count += s.count
	}
	return count, q.bytes, q.dropped + memDropped
}
