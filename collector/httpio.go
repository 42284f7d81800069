package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/picketnet/picket/collector/api"
)

// Error codes of the API's JSON errors (see api.Error).
const (
	codeBadRequest   = api.CodeBadRequest
	codeMethod       = api.CodeMethod
	codeUnauthorized = api.CodeUnauthorized
	codeForbidden    = api.CodeForbidden
	codeNotFound     = api.CodeNotFound
	codeTooLarge     = api.CodeTooLarge
	codeConflict     = api.CodeConflict
	codeInvalid      = api.CodeInvalid
	codeInternal     = api.CodeInternal
	codeUnavailable  = api.CodeUnavailable
)

// Body size limits of requests other than result batches.
const (
	maxSmallBody     = 64 << 10
	maxEndpointsBody = 8 << 20
)

// httpError is an API error with its JSON body.
type httpError struct {
	code, msg, field string
}

func (e *httpError) Error() string { return e.msg }

func (e *httpError) body() api.Error {
	return api.Error{Error: e.msg, Code: e.code, Field: e.field}
}

func apiErr(code, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeError answers with a JSON error and counts the rejection by reason.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, e *httpError) {
	s.metrics.rejected.WithLabelValues(e.code).Inc()
	// A 503 is the store failing, logged once per outage (Server.health).
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", e.msg)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="picket"`)
	}
	writeJSON(w, status, e.body())
}

// internal answers 500 without leaking the store's error to the client.
// Such errors are nearly always the store's, so they are logged once per
// outage (Server.health) rather than once per request.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.health.Fail(1, err, "op", r.Method+" "+r.URL.Path)
	s.metrics.rejected.WithLabelValues(codeInternal).Inc()
	writeJSON(w, http.StatusInternalServerError, api.Error{Error: "internal error; see the collector's log", Code: codeInternal})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"cannot encode the answer","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeJSON reads a JSON body of at most limit bytes strictly into v.
// It answers the error itself and returns false on failure.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if r.Header.Get("Content-Encoding") != "" {
		s.writeError(w, r, http.StatusUnsupportedMediaType, apiErr(codeBadRequest, "Content-Encoding %q is not accepted here", r.Header.Get("Content-Encoding")))
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, http.StatusRequestEntityTooLarge, apiErr(codeTooLarge, "body larger than %d bytes", limit))
			return false
		}
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "read body: %v", err))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: ")))
		return false
	}
	if dec.More() {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "malformed JSON body: data after the object"))
		return false
	}
	return true
}
