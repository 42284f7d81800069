package rollup

import (
	"encoding/binary"
	"errors"
)

// A pack holds the rollup rows of one check in one bucket, one entry per
// vantage, in a single blob. Stores keep day rollups packed so that a
// report over a month reads (checks × days) rows instead of (checks ×
// vantages × days): at 20 vantages, the difference between 31,000 rows
// and 620,000.
//
// An entry is: vantage, region, provider (uvarint length + bytes), then
// uvarints asn, count, failures, failed minutes, down minutes, then the
// EncodeErrors form and the histogram binary form (length + bytes).

var errPack = errors.New("rollup: corrupt pack")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendPack appends the pack of rows (same bucket and check) to b.
func AppendPack(b []byte, rows []*Row) ([]byte, error) {
	var scratch []byte
	for _, r := range rows {
		b = appendString(b, r.Vantage)
		b = appendString(b, r.Region)
		b = appendString(b, r.Provider)
		for _, v := range []int64{int64(r.ASN), r.Count, r.Failures, r.FailedMinutes, r.DownMinutes} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		b = appendString(b, EncodeErrors(r.Errors))
		var err error
		if scratch, err = r.Hist.AppendBinary(scratch[:0]); err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(scratch)))
		b = append(b, scratch...)
	}
	return b, nil
}

// packReader walks a pack's entries.
type packReader struct {
	b   []byte
	err error
}

func (p *packReader) uvarint() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = errPack
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *packReader) bytes() []byte {
	n := p.uvarint()
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.err = errPack
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

// entry is one decoded entry; its byte slices alias the pack.
type entry struct {
	vantage, region, provider []byte
	asn, count, failures      uint64
	failedMinutes, downMins   uint64
	errors, hist              []byte
}

func (p *packReader) next(e *entry) bool {
	if p.err != nil || len(p.b) == 0 {
		return false
	}
	e.vantage, e.region, e.provider = p.bytes(), p.bytes(), p.bytes()
	e.asn, e.count, e.failures = p.uvarint(), p.uvarint(), p.uvarint()
	e.failedMinutes, e.downMins = p.uvarint(), p.uvarint()
	e.errors, e.hist = p.bytes(), p.bytes()
	return p.err == nil
}

// UnpackRows decodes a pack into rows with the given key fields, which a
// pack does not repeat.
func UnpackRows(l Level, bucket int64, check, team, endpoint, kind string, pack []byte) ([]*Row, error) {
	var out []*Row
	p := packReader{b: pack}
	var e entry
	for p.next(&e) {
		r := &Row{
			Key:  Key{Level: l, Bucket: bucket, Check: check, Vantage: string(e.vantage)},
			Team: team, Endpoint: endpoint, Kind: kind,
			Region: string(e.region), Provider: string(e.provider), ASN: uint32(e.asn),
			Count: int64(e.count), Failures: int64(e.failures),
			FailedMinutes: int64(e.failedMinutes), DownMinutes: int64(e.downMins),
		}
		var err error
		if r.Errors, err = DecodeErrorMap(string(e.errors)); err != nil {
			return nil, err
		}
		if err := r.Hist.UnmarshalBinary(e.hist); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, p.err
}

// AddPack folds every entry of a pack (one check's rows of one bucket)
// into the report.
func (r *Report) AddPack(team, endpoint, check string, pack []byte) error {
	p := packReader{b: pack}
	var e entry
	row := ReportRow{Team: team, Endpoint: endpoint, Check: check}
	if r.packSeries == nil {
		r.packSeries = make(map[string][]*seriesEntry)
	}
	cached := r.packSeries[check]
	for i := 0; p.next(&e); i++ {
		row.Vantage = r.names.Of(e.vantage)
		row.Region = r.names.Of(e.region)
		row.Provider = r.names.Of(e.provider)
		row.ASN = uint32(e.asn)
		row.Count, row.Failures = int64(e.count), int64(e.failures)
		row.FailedMinutes, row.DownMinutes = int64(e.failedMinutes), int64(e.downMins)
		row.Errors = e.errors
		row.Hist = e.hist
		var se *seriesEntry
		if i < len(cached) && cached[i].matches(r.by, &row) {
			se = cached[i]
		} else {
			se = r.entry(&row)
			if i < len(cached) {
				cached[i] = se
			} else {
				cached = append(cached, se)
			}
		}
		if err := r.addTo(se, &row); err != nil {
			return err
		}
	}
	r.packSeries[check] = cached
	return p.err
}
