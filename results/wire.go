package results

// Batch is the body of POST /v1/results (optionally gzip-encoded).
type Batch struct {
	Results []Result `json:"results"`
}

// BatchAck is the collector's answer to a Batch. An id in Accepted is
// durably stored (now or before: duplicates are accepted too) and the
// prober may forget it; an id in Rejected will never be accepted as sent
// (it failed validation or belongs to another vantage) and the prober drops
// it too, counting it. Any id in neither list must be sent again.
type BatchAck struct {
	Accepted  []string    `json:"accepted"`
	Duplicate int         `json:"duplicate"` // how many of Accepted were already stored
	Rejected  []Rejection `json:"rejected"`
}

// Rejection names a record the collector refused, and why.
type Rejection struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Limits of the prober API that both sides honour.
const (
	MaxBatchRecords = 5000
	MaxBatchBytes   = 16 << 20 // decompressed
)
