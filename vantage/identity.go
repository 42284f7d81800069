package vantage

import (
	"encoding/json"
	"time"

	"github.com/picketnet/picket/checks/targetpolicy"
)

// Identity is who a prober is. It comes from prober.yaml; the ASN and
// public address are discovered when absent.
type Identity struct {
	ID       string    `json:"id" yaml:"id"`
	Region   string    `json:"region" yaml:"region"`
	Provider string    `json:"provider" yaml:"provider"`
	ASN      uint32    `json:"asn,omitempty" yaml:"asn"`
	Location *Location `json:"location,omitempty" yaml:"location"`
}

// Location is a point on Earth in degrees.
type Location struct {
	Lat float64 `json:"lat" yaml:"lat"`
	Lon float64 `json:"lon" yaml:"lon"`
}

// Assignment is the answer to GET /v1/assignments: every check this
// vantage must run, and the target policy it must enforce at connect time.
// The collector sends it with an ETag; an unchanged assignment answers 304.
type Assignment struct {
	Vantage string `json:"vantage"`
	// Region and Provider are the vantage's as the operator enrolled it.
	// The collector refuses results that carry others, so they win over
	// prober.yaml's (empty from collectors that predate them).
	Region   string          `json:"region,omitempty"`
	Provider string          `json:"provider,omitempty"`
	Checks   []AssignedCheck `json:"checks"`
	// Policy is the collector's targets policy; probers refuse to connect
	// to a denied address even when DNS changed after registration.
	Policy targetpolicy.Policy `json:"policy"`
	// HeartbeatEvery is how often the prober should send heartbeats.
	HeartbeatEvery time.Duration `json:"heartbeat_every_ns"`
	// ETag identifies this content; the prober keeps it with the copy it
	// stores on disk.
	ETag string `json:"etag,omitempty"`
}

// AssignedCheck is one check of one endpoint.
type AssignedCheck struct {
	// ID is the stable check id ("checkout-api/http"); results carry it.
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Team     string `json:"team"`
	Target   string `json:"target"`
	// Spec is the check spec: checks.Spec fields plus the kind's options.
	Spec json.RawMessage `json:"spec"`
}
