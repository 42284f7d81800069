package results

import (
	"context"
	"time"
)

// Network Error Logging reports, as the collector stores them once package
// nel has validated them and removed what identifies a client. The stores
// implement NELStore beside Store; package nel parses and aggregates.

// NELReport is one client-side report (a browser's or the reporting
// agent's), without the client's address: only its network.
type NELReport struct {
	// ReceivedAt is when the collector accepted the report; OccurredAt is
	// ReceivedAt minus the report's age.
	ReceivedAt time.Time `json:"received_at"`
	OccurredAt time.Time `json:"occurred_at"`
	Team       string    `json:"team"`
	Endpoint   string    `json:"endpoint"`
	// URL is the reported URL with its query, fragment and user info
	// removed, and reduced to the origin for the dns and connection phases.
	URL string `json:"url"`
	// Phase is dns, connection or application; Type is the NEL type
	// (dns.name_not_resolved, tcp.refused, ..., ok for a success).
	Phase            string  `json:"phase"`
	Type             string  `json:"type"`
	SamplingFraction float64 `json:"sampling_fraction"`
	ElapsedMS        int64   `json:"elapsed_ms"`
	ServerIP         string  `json:"server_ip,omitempty"`
	Protocol         string  `json:"protocol,omitempty"`
	Method           string  `json:"method,omitempty"`
	StatusCode       int     `json:"status_code,omitempty"`
	// The client's network: origin AS, the AS's country, and the client
	// address truncated to its /24 (IPv4) or /48 (IPv6).
	ClientASN     uint32 `json:"client_asn,omitempty"`
	ClientCountry string `json:"client_country,omitempty"`
	ClientPrefix  string `json:"client_prefix"`
	// Browser is the user agent's family and major version ("Chrome 131").
	Browser string `json:"browser"`
}

// Weight is how many requests the report stands for: 1/sampling_fraction.
func (r NELReport) Weight() float64 {
	if r.SamplingFraction <= 0 || r.SamplingFraction > 1 {
		return 1
	}
	return 1 / r.SamplingFraction
}

// NELQuery selects stored reports or counts. Zero fields do not filter.
type NELQuery struct {
	Team         string
	Endpoint     string
	Since, Until time.Time // [Since, Until) on OccurredAt
	Limit        int       // raw reports only: 0 means DefaultRowLimit; capped at MaxRowLimit
	// Step is the width of NELCounts' buckets, in whole seconds, starting
	// at multiples of Step since the Unix epoch; 0 means a minute. A
	// report over a long range (the dashboard's 30 days) reads far fewer
	// rows with a long step.
	Step time.Duration
}

// BucketWidth returns q.Step rounded down to whole seconds, and a minute when
// that is zero.
func (q NELQuery) BucketWidth() time.Duration {
	if s := q.Step.Truncate(time.Second); s > 0 {
		return s
	}
	return time.Minute
}

// NELCount aggregates the reports of one minute (NELQuery.Step) for one
// endpoint, NEL type and client network.
type NELCount struct {
	Bucket        time.Time `json:"bucket"` // bucket start, UTC
	Team          string    `json:"team"`
	Endpoint      string    `json:"endpoint"`
	Phase         string    `json:"phase"`
	Type          string    `json:"type"`
	ClientASN     uint32    `json:"client_asn,omitempty"`
	ClientCountry string    `json:"client_country,omitempty"`
	// Reports is how many reports arrived; Weighted is the sum of their
	// weights, an estimate of the requests they stand for.
	Reports  int64   `json:"reports"`
	Weighted float64 `json:"weighted"`
}

// NELStore keeps NEL reports.
type NELStore interface {
	// InsertNELReports stores the reports in one transaction.
	InsertNELReports(ctx context.Context, rs []NELReport) error
	// NELReports returns raw reports, newest first.
	NELReports(ctx context.Context, q NELQuery) ([]NELReport, error)
	// NELCounts aggregates reports per minute, endpoint, phase, type, client
	// ASN and country, oldest first.
	NELCounts(ctx context.Context, q NELQuery) ([]NELCount, error)
	// DeleteNELReportsBefore removes reports that occurred before t.
	DeleteNELReportsBefore(ctx context.Context, t time.Time) error
}
