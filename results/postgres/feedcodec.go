package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// The records of a result pack (resultpacks.go), written by the ingest
// transaction and read by the alert evaluator (the feed) and the
// dashboard. Every result of every batch goes through both, so the form is a plain binary one that costs a fraction of
// a reflective encoder (gob took a tenth of the collector's CPU): a
// version byte, then per result its fields in a fixed order, strings as a
// uvarint length and the bytes, integers as varints, floats as their
// 8-byte IEEE 754 bits.
const feedCodecVersion = 1

// Bits of a record's flags byte.
const (
	feedOK       = 1 << 0
	feedHasError = 1 << 1
)

var errFeedRecords = errors.New("corrupt feed records")

// appendFeedHeader starts the encoding of n records; appendFeedRecord
// then appends each (copyPacks writes a pack's records so).
func appendFeedHeader(dst []byte, n int) []byte {
	dst = append(dst, feedCodecVersion)
	return binary.AppendUvarint(dst, uint64(n))
}

func appendFeedRecord(dst []byte, r *results.Result) []byte {
	for _, s := range [...]string{r.ID, r.Endpoint, r.Team, r.Check, r.Kind, r.Vantage, r.Region, r.Provider, r.Target, r.Addr} {
		dst = appendBytes(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(r.ASN))
	dst = binary.AppendVarint(dst, r.StartedAt.UnixNano())
	var flags byte
	if r.OK {
		flags |= feedOK
	}
	if r.Error != nil {
		flags |= feedHasError
	}
	dst = append(dst, flags)
	if r.Error != nil {
		dst = appendBytes(dst, string(r.Error.Layer))
		dst = appendBytes(dst, string(r.Error.Code))
		dst = appendBytes(dst, r.Error.Message)
	}
	for _, f := range [...]float64{r.DurationMS, r.Phases.DNSMS, r.Phases.ConnectMS, r.Phases.TLSMS, r.Phases.TTFBMS, r.Phases.TransferMS} {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	dst = appendBytes(dst, r.Details)
	return dst
}

// feedRecordSize is at least what appendFeedRecord adds for r, for
// sizing buffers once (the header of the records aside).
func feedRecordSize(r *results.Result) int {
	n := len(r.ID) + len(r.Endpoint) + len(r.Team) + len(r.Check) + len(r.Kind) + len(r.Vantage) +
		len(r.Region) + len(r.Provider) + len(r.Target) + len(r.Addr) + len(r.Details) +
		11*binary.MaxVarintLen16 + 2*binary.MaxVarintLen64 + 1 + 6*8
	if r.Error != nil {
		n += len(r.Error.Layer) + len(r.Error.Code) + len(r.Error.Message) + 3*binary.MaxVarintLen16
	}
	return n
}

func appendBytes[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeFeedRecords decodes what appendFeedHeader and appendFeedRecord
// wrote. Strings that repeat from record to record (team, vantage,
// region, check...) are allocated once.
func decodeFeedRecords(b []byte) ([]results.Result, error) {
	return decodeFeedRecordsOf(b, "", &intern.Strings{})
}

// decodeFeedRecordsOf is decodeFeedRecords of the records of endpoint
// alone, or of all when it is "": the others are skipped without being
// made into results (reading one endpoint's results from packs of
// several). The strings it makes are kept in strs, and taken from there
// when they repeat, also in the next call given the same strs.
func decodeFeedRecordsOf(b []byte, endpoint string, strs *intern.Strings) ([]results.Result, error) {
	return decodeFeedRecordsTo(nil, b, endpoint, strs)
}

// decodeFeedRecordsTo is decodeFeedRecordsOf appending to dst, so that a
// reader of many packs decodes their results where it keeps them instead
// of copying them there.
func decodeFeedRecordsTo(dst []results.Result, b []byte, endpoint string, strs *intern.Strings) ([]results.Result, error) {
	d := feedDecoder{b: b, strs: strs}
	if v := d.octet(); v != feedCodecVersion {
		return nil, fmt.Errorf("%w: version %d", errFeedRecords, v)
	}
	n := d.uvarint()
	// Each record takes at least 60 bytes: a bound on n that a corrupt
	// count cannot pass.
	if d.err != nil || n > uint64(len(d.b)/60+1) {
		return nil, fmt.Errorf("%w: %d records in %d bytes", errFeedRecords, n, len(b))
	}
	rs := dst
	if endpoint == "" {
		rs = slices.Grow(rs, int(n))
	}
	for i := range n {
		id, ep := d.bytes(), d.bytes()
		if endpoint != "" && string(ep) != endpoint {
			d.skipRecord()
		} else {
			rs = append(rs, results.Result{ID: string(id), Endpoint: d.strs.Field(nameEndpoint, ep)})
			d.record(&rs[len(rs)-1])
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: record %d", errFeedRecords, i)
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the records", errFeedRecords, len(d.b))
	}
	return rs, nil
}

// record decodes the fields of a record after its id and endpoint into r.
func (d *feedDecoder) record(r *results.Result) {
	for i, s := range [...]*string{&r.Team, &r.Check, &r.Kind, &r.Vantage, &r.Region, &r.Provider, &r.Target, &r.Addr} {
		*s = d.name(i)
	}
	asn := d.uvarint()
	if asn > math.MaxUint32 {
		d.fail()
	}
	r.ASN = uint32(asn)
	r.StartedAt = time.Unix(0, d.varint()).UTC()
	flags := d.octet()
	r.OK = flags&feedOK != 0
	if flags&feedHasError != 0 {
		r.Error = &results.Error{Layer: results.Layer(d.name(nameLayer)), Code: results.Code(d.name(nameCode)), Message: d.name(nameMessage)}
	}
	for _, f := range [...]*float64{&r.DurationMS, &r.Phases.DNSMS, &r.Phases.ConnectMS, &r.Phases.TLSMS, &r.Phases.TTFBMS, &r.Phases.TransferMS} {
		*f = d.float()
	}
	if details := d.bytes(); len(details) > 0 {
		r.Details = append([]byte(nil), details...)
	}
}

// skipRecord reads past the fields of a record after its id and
// endpoint, as record does, without keeping them.
func (d *feedDecoder) skipRecord() {
	for range 8 {
		d.bytes()
	}
	d.uvarint()
	d.varint()
	if d.octet()&feedHasError != 0 {
		d.bytes()
		d.bytes()
		d.bytes()
	}
	for range 6 {
		d.float()
	}
	d.bytes()
}

// feedDecoder reads b from its start; after the first short read every
// read returns zero values and err is set.
type feedDecoder struct {
	b    []byte
	strs *intern.Strings
	err  error
}

func (d *feedDecoder) fail() {
	d.err, d.b = errFeedRecords, nil
}

func (d *feedDecoder) octet() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *feedDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *feedDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *feedDecoder) float() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

func (d *feedDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

// The fields of a record for intern.Strings.Field, after the eight that
// record reads in a row (0–7, team to addr).
const (
	nameLayer = 8 + iota
	nameCode
	nameMessage
	nameEndpoint
)

// name reads a string that repeats from record to record, the value of
// field f (see intern.Strings.Field).
func (d *feedDecoder) name(f int) string {
	return d.strs.Field(f, d.bytes())
}
