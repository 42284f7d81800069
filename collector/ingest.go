package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// Errors of DecodeBatch.
var (
	ErrBatchTooLarge  = errors.New("batch too large")
	ErrBatchMalformed = errors.New("malformed batch")
	ErrBatchEncoding  = errors.New("unsupported Content-Encoding")
)

// maxCompressedBytes bounds the body on the wire. Compressed JSON is far
// smaller than MaxBatchBytes; the slack covers incompressible input.
const maxCompressedBytes = results.MaxBatchBytes + 64<<10

// DecodeBatch reads a batch body of the given Content-Encoding ("" or
// "identity" or "gzip"). It stops reading at results.MaxBatchBytes of
// decompressed data, so a gzip bomb costs at most that much memory, and
// refuses more than results.MaxBatchRecords records. Unknown record fields
// are ignored, so that newer probers can talk to older collectors.
func DecodeBatch(body io.Reader, encoding string) (results.Batch, error) {
	var buf bytes.Buffer
	return decodeBatch(body, encoding, &buf)
}

// bodyBuffers reuses the buffers request bodies are decompressed into:
// a batch is up to results.MaxBatchBytes, and allocating that per request
// was a large part of the collector's garbage.
type bodyBuffers struct{ pool sync.Pool }

func (bb *bodyBuffers) get() *bytes.Buffer {
	if buf, _ := bb.pool.Get().(*bytes.Buffer); buf != nil {
		return buf
	}
	return new(bytes.Buffer)
}

func (bb *bodyBuffers) put(buf *bytes.Buffer) {
	if buf.Cap() <= 2*results.MaxBatchBytes {
		buf.Reset()
		bb.pool.Put(buf)
	}
}

// decode is DecodeBatch with a reused buffer.
func (bb *bodyBuffers) decode(body io.Reader, encoding string) (results.Batch, error) {
	buf := bb.get()
	defer bb.put(buf)
	return decodeBatch(body, encoding, buf)
}

func decodeBatch(body io.Reader, encoding string, buf *bytes.Buffer) (results.Batch, error) {
	src := body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return results.Batch{}, fmt.Errorf("%w: gzip: %v", ErrBatchMalformed, err)
		}
		defer zr.Close()
		src = zr
	default:
		return results.Batch{}, fmt.Errorf("%w %q: send identity or gzip", ErrBatchEncoding, encoding)
	}
	n, err := buf.ReadFrom(io.LimitReader(src, results.MaxBatchBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return results.Batch{}, fmt.Errorf("%w: body over %d bytes", ErrBatchTooLarge, mbe.Limit)
		}
		return results.Batch{}, fmt.Errorf("%w: read: %v", ErrBatchMalformed, err)
	}
	if n > results.MaxBatchBytes {
		return results.Batch{}, fmt.Errorf("%w: more than %d bytes decompressed", ErrBatchTooLarge, results.MaxBatchBytes)
	}
	return parseBatch(buf.Bytes())
}

// Reasons a record is rejected, as counted in metrics.
const (
	rejectInvalid      = "invalid"
	rejectWrongVantage = "wrong_vantage"
	rejectFuture       = "future"
	// rejectUnregistered: the team, endpoint, check and kind name no
	// registered check.
	rejectUnregistered = "unregistered"
	// rejectNotAssigned: the check's endpoint is not assigned to the
	// vantage's region.
	rejectNotAssigned = "not_assigned"
)

// maxClockSkew is how far ahead of the collector's clock a record may
// start. Probers stamp records with their own clock, which NTP keeps
// within milliseconds; minutes leave room for a clock that is being
// corrected or a VM that was paused. A record further ahead is a broken
// clock or a forgery, and would pin picket_probe_success (a late result
// never overwrites a newer one) and write rollups that retention does not
// drop for as long as it is ahead.
const maxClockSkew = 5 * time.Minute

func (s *Server) handleResults(w http.ResponseWriter, r *http.Request, v results.Vantage) {
	// A record that misses the registered checks is held against a load
	// that began after this moment (see registeredChecks).
	arrived := s.checks.now()
	// The body is read as sent before taking a slot: it is no larger than
	// what the prober sent, and a prober on a slow link must not hold a
	// slot while it uploads.
	raw := s.rawBodies.get()
	defer s.rawBodies.put(raw)
	if _, err := raw.ReadFrom(http.MaxBytesReader(w, r.Body, maxCompressedBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, http.StatusRequestEntityTooLarge, apiErr(codeTooLarge, "%v: body over %d bytes", ErrBatchTooLarge, mbe.Limit))
			return
		}
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "%v: read: %v", ErrBatchMalformed, err))
		return
	}
	// Decompressed, a small body may become a 16 MiB batch, and as much
	// again parsed, held until it is stored: the slots bound the memory
	// of the batches in hand, however many arrive at once.
	s.metrics.ingestWaiting.Inc()
	select {
	case s.ingestSlots <- struct{}{}:
		s.metrics.ingestWaiting.Dec()
		defer func() { <-s.ingestSlots }()
	case <-r.Context().Done():
		// The prober went away, or the collector is stopping: nothing
		// was acknowledged, so the prober sends the batch again.
		s.metrics.ingestWaiting.Dec()
		s.writeError(w, r, http.StatusServiceUnavailable, apiErr(codeUnavailable, "collector stopping; retry the batch"))
		return
	}
	batch, err := s.bodies.decode(bytes.NewReader(raw.Bytes()), r.Header.Get("Content-Encoding"))
	switch {
	case errors.Is(err, ErrBatchTooLarge):
		s.writeError(w, r, http.StatusRequestEntityTooLarge, apiErr(codeTooLarge, "%v", err))
		return
	case errors.Is(err, ErrBatchEncoding):
		s.writeError(w, r, http.StatusUnsupportedMediaType, apiErr(codeBadRequest, "%v", err))
		return
	case err != nil:
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "%v", err))
		return
	}
	reg, err := s.checks.current(r.Context())
	if err != nil {
		s.registryUnavailable(w, r, v, err)
		return
	}
	ack := results.BatchAck{Accepted: []string{}, Rejected: []results.Rejection{}}
	now := s.opt.Now()
	// Valid records are moved to the front of the batch, in place:
	// copying them would double what a request holds.
	valid := batch.Results[:0]
	seen := make(map[string]struct{}, len(batch.Results))
	var inBatchDup []string
	for i := range batch.Results {
		rec := &batch.Results[i]
		reason, why := checkRecord(rec, v, now)
		if reason == "" {
			reason, why = reg.check(rec, v.Region)
			if reason != "" && !reg.readAfter(arrived) {
				if reg, err = s.checks.reloaded(r.Context(), arrived); err != nil {
					s.registryUnavailable(w, r, v, err)
					return
				}
				reason, why = reg.check(rec, v.Region)
			}
		}
		if reason != "" {
			id := rec.ID
			if len(id) > results.MaxNameBytes {
				id = id[:results.MaxNameBytes]
			}
			ack.Rejected = append(ack.Rejected, results.Rejection{ID: id, Reason: why})
			s.metrics.rejectedResults.WithLabelValues(reason).Inc()
			continue
		}
		if _, dup := seen[rec.ID]; dup {
			inBatchDup = append(inBatchDup, rec.ID)
			continue
		}
		seen[rec.ID] = struct{}{}
		valid = append(valid, *rec) // i ≥ len(valid): never overwrites a record not yet read
	}
	if len(valid) > 0 {
		out, err := s.commits.ingest(r.Context(), valid)
		if err != nil {
			// Nothing is acknowledged: the prober keeps the batch and
			// retries, and ingest is idempotent on ids.
			if r.Context().Err() != nil {
				return // the prober went away; nobody reads an answer
			}
			s.health.Fail(1, err, "op", "ingest", "vantage", v.ID, "records", len(valid))
			s.writeError(w, r, http.StatusServiceUnavailable, apiErr(codeUnavailable, "store unavailable; retry the batch"))
			return
		}
		s.health.OK()
		ack.Accepted = append(ack.Accepted, out.Accepted...)
		ack.Accepted = append(ack.Accepted, out.Duplicate...)
		ack.Duplicate = len(out.Duplicate)
		s.metrics.ingested.WithLabelValues("accepted").Add(float64(len(out.Accepted)))
		s.metrics.ingested.WithLabelValues("duplicate").Add(float64(len(out.Duplicate)))
		s.metrics.probes.observe(valid)
	}
	ack.Accepted = append(ack.Accepted, inBatchDup...)
	ack.Duplicate += len(inBatchDup)
	s.metrics.ingested.WithLabelValues("duplicate").Add(float64(len(inBatchDup)))
	s.metrics.batchRecords.Observe(float64(len(batch.Results)))
	writeJSON(w, http.StatusOK, ack)
}

// registryUnavailable answers a batch whose records could not be held
// against the registered checks. Nothing is acknowledged, so the prober
// keeps the batch and sends it again: rejecting would make it drop
// results that may well be valid.
func (s *Server) registryUnavailable(w http.ResponseWriter, r *http.Request, v results.Vantage, err error) {
	if r.Context().Err() != nil {
		return // the prober went away; nobody reads an answer
	}
	s.health.Fail(1, err, "op", "registered checks", "vantage", v.ID)
	s.writeError(w, r, http.StatusServiceUnavailable, apiErr(codeUnavailable, "store unavailable; retry the batch"))
}

// checkRecord validates one record of vantage v's batch, received when the
// collector's clock read now, and fills the identity fields the prober may
// leave out. It returns a metric reason and a message when the record is
// refused. Whether the record names a registered check is asked of the
// registered checks afterwards (checkSet.check).
func checkRecord(rec *results.Result, v results.Vantage, now time.Time) (reason, why string) {
	// Decoded by parseBatch: its details are JSON.
	if err := rec.ValidateDecoded(); err != nil {
		return rejectInvalid, err.Error()
	}
	if rec.Vantage != v.ID {
		return rejectWrongVantage, fmt.Sprintf("vantage: %q is not this token's vantage %q", rec.Vantage, v.ID)
	}
	if rec.Region == "" {
		rec.Region = v.Region
	}
	if rec.Provider == "" {
		rec.Provider = v.Provider
	}
	if rec.ASN == 0 {
		rec.ASN = v.ASN
	}
	if rec.Region != v.Region {
		return rejectWrongVantage, fmt.Sprintf("region: %q is not vantage %s's region %q", rec.Region, v.ID, v.Region)
	}
	if rec.Provider != v.Provider {
		return rejectWrongVantage, fmt.Sprintf("provider: %q is not vantage %s's provider %q", rec.Provider, v.ID, v.Provider)
	}
	if ahead := rec.StartedAt.Sub(now); ahead > maxClockSkew {
		return rejectFuture, fmt.Sprintf("started_at: %s is %s ahead of the collector's clock; at most %s is allowed",
			rec.StartedAt.UTC().Format(time.RFC3339Nano), ahead.Round(time.Second), maxClockSkew)
	}
	rec.StartedAt = rec.StartedAt.UTC()
	return "", ""
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, v results.Vantage) {
	var hb results.Heartbeat
	if !s.decodeJSON(w, r, maxSmallBody, &hb) {
		return
	}
	if hb.Vantage != "" && hb.Vantage != v.ID {
		s.writeError(w, r, http.StatusForbidden, apiErr(codeForbidden, "vantage: %q is not this token's vantage %q", hb.Vantage, v.ID))
		return
	}
	start := time.Now()
	err := s.vantages.Heartbeat(r.Context(), v, hb)
	s.metrics.storeSeconds.WithLabelValues("heartbeat").Observe(time.Since(start).Seconds())
	if err != nil {
		if errors.Is(err, vantage.ErrInvalid) {
			s.writeError(w, r, http.StatusUnprocessableEntity, apiErr(codeInvalid, "%v", err))
			return
		}
		s.internal(w, r, err)
		return
	}
	s.health.OK()
	writeJSON(w, http.StatusOK, api.HeartbeatAck{HeartbeatEvery: s.opt.HeartbeatEvery})
}
