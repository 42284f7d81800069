package prober

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// standin is a collector for tests: it implements the prober's side of
// DESIGN.md §5 (results, heartbeat, assignments) faithfully — bearer
// token bound to one vantage, gzip bodies with size limits, validation,
// idempotent ingest on id — and records what it stored. It can be taken
// down (connections refused) and brought back on the same address.
type standin struct {
	t       testing.TB
	token   string
	vantage string
	addr    string

	srvMu sync.Mutex
	srv   *http.Server

	mu         sync.Mutex
	stored     map[string]results.Result
	order      []string // ids in the order first stored
	received   int      // records received, duplicates included
	batches    int
	heartbeats []results.Heartbeat
	assignment vantage.Assignment
	etag       string
	fetches    int
	notMod     int
	// failNext makes the next n result posts answer 503 after storing
	// nothing; dropAck makes the next ack omit its last id (stored but
	// not acknowledged, as when the answer is lost).
	failNext int
	dropAck  int
	// delay holds every result post this long before answering, so that
	// a batch is in flight for a while.
	delay time.Duration
	// maxRecords, when set, lowers the batch limit (413 above it).
	maxRecords int
}

func newStandin(t testing.TB, vantageID, token string) *standin {
	s := &standin{t: t, token: token, vantage: vantageID, stored: map[string]results.Result{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *standin) URL() string { return "http://" + s.addr }

func (s *standin) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/results", s.auth(s.results))
	mux.HandleFunc("POST /v1/heartbeat", s.auth(s.heartbeat))
	mux.HandleFunc("GET /v1/assignments", s.auth(s.assignments))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.srvMu.Lock()
	s.srv = srv
	s.srvMu.Unlock()
	go srv.Serve(ln)
}

// stop takes the collector down: new connections are refused.
func (s *standin) stop() {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// start brings it back on the same address.
func (s *standin) start() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("restart stand-in collector: %v", err)
	}
	s.serve(ln)
}

func jsonError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (s *standin) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			jsonError(w, http.StatusUnauthorized, "bad or missing token")
			return
		}
		h(w, r)
	}
}

func (s *standin) body(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			jsonError(w, http.StatusBadRequest, "bad gzip: %v", err)
			return nil, false
		}
		rd = zr
	}
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "read body: %v", err)
		return nil, false
	}
	if int64(len(b)) > limit {
		jsonError(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", limit)
		return nil, false
	}
	return b, true
}

func (s *standin) results(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	time.Sleep(delay)
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		jsonError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	s.mu.Unlock()
	b, ok := s.body(w, r, results.MaxBatchBytes)
	if !ok {
		return
	}
	var batch results.Batch
	if err := json.Unmarshal(b, &batch); err != nil {
		jsonError(w, http.StatusBadRequest, "malformed batch: %v", err)
		return
	}
	s.mu.Lock()
	limit := s.maxRecords
	s.mu.Unlock()
	if limit == 0 {
		limit = results.MaxBatchRecords
	}
	if len(batch.Results) > limit {
		jsonError(w, http.StatusRequestEntityTooLarge, "more than %d results", limit)
		return
	}
	ack := results.BatchAck{Accepted: []string{}, Rejected: []results.Rejection{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for _, res := range batch.Results {
		s.received++
		if err := res.Validate(); err != nil {
			ack.Rejected = append(ack.Rejected, results.Rejection{ID: res.ID, Reason: err.Error()})
			continue
		}
		if res.Vantage != s.vantage {
			ack.Rejected = append(ack.Rejected, results.Rejection{ID: res.ID, Reason: "vantage does not match the token"})
			continue
		}
		if _, dup := s.stored[res.ID]; dup {
			ack.Duplicate++
		} else {
			s.stored[res.ID] = res
			s.order = append(s.order, res.ID)
		}
		ack.Accepted = append(ack.Accepted, res.ID)
	}
	if s.dropAck > 0 && len(ack.Accepted) > 0 {
		s.dropAck--
		ack.Accepted = ack.Accepted[:len(ack.Accepted)-1]
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ack)
}

func (s *standin) heartbeat(w http.ResponseWriter, r *http.Request) {
	b, ok := s.body(w, r, 64<<10)
	if !ok {
		return
	}
	var hb results.Heartbeat
	if err := json.Unmarshal(b, &hb); err != nil {
		jsonError(w, http.StatusBadRequest, "malformed heartbeat: %v", err)
		return
	}
	if hb.Vantage != s.vantage {
		jsonError(w, http.StatusForbidden, "token is for vantage %q", s.vantage)
		return
	}
	s.mu.Lock()
	s.heartbeats = append(s.heartbeats, hb)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *standin) assignments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.etag != "" && r.Header.Get("If-None-Match") == s.etag {
		s.notMod++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", s.etag)
	json.NewEncoder(w).Encode(s.assignment)
}

// assign sets the assignment the collector hands out.
func (s *standin) assign(checks ...vantage.AssignedCheck) {
	a := vantage.Assignment{Vantage: s.vantage, Checks: checks, HeartbeatEvery: time.Second}
	b, _ := json.Marshal(a)
	sum := sha256.Sum256(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignment = a
	s.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
}

// storedCount is how many distinct results are stored.
func (s *standin) storedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored)
}

func (s *standin) storedResults() []results.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]results.Result, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.stored[id])
	}
	return out
}

// byCheck counts stored results per check id.
func (s *standin) byCheck() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, r := range s.stored {
		m[r.Check]++
	}
	return m
}

func (s *standin) lastHeartbeat() (results.Heartbeat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.heartbeats) == 0 {
		return results.Heartbeat{}, false
	}
	return s.heartbeats[len(s.heartbeats)-1], true
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// test, it asserts nothing about speed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
