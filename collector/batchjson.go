package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// batchParser reads the body of POST /v1/results, the collector's hottest
// input: every result of every prober passes through it. It decodes the
// result record without reflection, which encoding/json spends most of its
// time on, and it allocates each repeated string (team, vantage, region,
// check, target...) once per batch instead of once per record.
//
// It accepts exactly what encoding/json accepts and yields the same
// values. The records probers send take the fast path; anything unusual
// (escapes or non-ASCII bytes in a string, a key that is not exactly a
// field's name but might match one case-insensitively) is handed to
// encoding/json, so its rules stay the only rules. FuzzParseBatch holds
// the two to the same outcome on arbitrary input.
type batchParser struct {
	data []byte
	pos  int
	// strs interns string values within the batch.
	strs *intern.Strings
	// arena holds the records' details, so that a batch's details cost a
	// few allocations instead of one per record. The body buffer itself is
	// reused for the next request and cannot be referenced.
	arena []byte
}

// maxDepth is encoding/json's nesting limit, kept so that both refuse the
// same input.
const maxDepth = 10000

// maxInterned bounds the interning map of one batch: a hostile batch of
// distinct strings costs no more than the strings themselves.
const maxInterned = 4096

var (
	errSyntax = errors.New("invalid JSON")
	// errUnusual sends a record to encoding/json.
	errUnusual = errors.New("unusual record")
)

// parseBatch decodes {"results":[...]}, stopping as soon as the batch
// passes results.MaxBatchRecords. Other top-level keys are skipped.
func parseBatch(data []byte) (results.Batch, error) {
	p := batchParser{data: data, strs: intern.Bounded(maxInterned)}
	var b results.Batch
	p.ws()
	if !p.consume('{') {
		return results.Batch{}, fmt.Errorf("%w: expected a JSON object {\"results\": [...]}", ErrBatchMalformed)
	}
	err := p.members(func(key []byte) error {
		if string(key) != "results" {
			return p.skip(0)
		}
		return p.results(&b)
	})
	if err != nil {
		if errors.Is(err, ErrBatchTooLarge) {
			return results.Batch{}, err
		}
		return results.Batch{}, fmt.Errorf("%w: %v", ErrBatchMalformed, err)
	}
	p.ws()
	if p.pos != len(p.data) {
		return results.Batch{}, fmt.Errorf("%w: data after the batch object", ErrBatchMalformed)
	}
	if b.Results == nil {
		return b, fmt.Errorf("%w: no \"results\" list", ErrBatchMalformed)
	}
	return b, nil
}

// members reads the members of an object whose '{' has been consumed,
// through its '}', calling value with each key positioned at its value.
// The key is only valid during the call.
func (p *batchParser) members(value func(key []byte) error) error {
	p.ws()
	if p.consume('}') {
		return nil
	}
	for {
		p.ws()
		key, err := p.key()
		if err != nil {
			return err
		}
		if err := value(key); err != nil {
			return err
		}
		p.ws()
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			return nil
		}
		return p.syntax("after an object member")
	}
}

// key reads an object key and the colon after it. A plain key is
// returned in place, without a copy.
func (p *batchParser) key() ([]byte, error) {
	if p.peek() != '"' {
		return nil, p.syntax("looking for an object key")
	}
	start := p.pos
	plain, err := p.scanString()
	if err != nil {
		return nil, err
	}
	key := p.data[start+1 : p.pos-1]
	if !plain {
		var s string
		if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
			return nil, err
		}
		key = []byte(s)
	}
	p.ws()
	if !p.consume(':') {
		return nil, p.syntax("after an object key")
	}
	p.ws()
	return key, nil
}

func (p *batchParser) results(b *results.Batch) error {
	if p.literal("null") {
		b.Results = nil
		return nil
	}
	if !p.consume('[') {
		return errors.New(`"results" is not a list`)
	}
	b.Results = make([]results.Result, 0, min(results.MaxBatchRecords, len(p.data)/512+1))
	p.ws()
	if p.consume(']') {
		return nil
	}
	for {
		if len(b.Results) == results.MaxBatchRecords {
			return fmt.Errorf("%w: more than %d records", ErrBatchTooLarge, results.MaxBatchRecords)
		}
		b.Results = append(b.Results, results.Result{})
		p.ws()
		if err := p.record(&b.Results[len(b.Results)-1]); err != nil {
			return fmt.Errorf("record %d: %w", len(b.Results)-1, err)
		}
		p.ws()
		if p.consume(',') {
			continue
		}
		if p.consume(']') {
			return nil
		}
		return p.syntax("after a record")
	}
}

// record decodes one result into r, a zero Result.
func (p *batchParser) record(r *results.Result) error {
	start := p.pos
	if p.literal("null") {
		return nil
	}
	if !p.consume('{') {
		return p.typeError("a result object")
	}
	err := p.members(func(key []byte) error {
		if err := p.field(r, key); err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		return nil
	})
	if errors.Is(err, errUnusual) {
		// encoding/json decides, from a fresh record.
		p.pos = start
		raw, err := p.rawValue(0)
		if err != nil {
			return err
		}
		*r = results.Result{}
		return json.Unmarshal(raw, r)
	}
	return err
}

// field decodes the value of the record's member key.
func (p *batchParser) field(r *results.Result, key []byte) error {
	switch string(key) {
	case "id":
		return p.stringInto(&r.ID, notInterned)
	case "endpoint":
		return p.stringInto(&r.Endpoint, notInterned)
	case "team":
		return p.stringInto(&r.Team, fieldTeam)
	case "check":
		return p.stringInto(&r.Check, notInterned)
	case "kind":
		return p.stringInto(&r.Kind, fieldKind)
	case "vantage":
		return p.stringInto(&r.Vantage, fieldVantage)
	case "region":
		return p.stringInto(&r.Region, fieldRegion)
	case "provider":
		return p.stringInto(&r.Provider, fieldProvider)
	case "target":
		return p.stringInto(&r.Target, notInterned)
	case "addr":
		return p.stringInto(&r.Addr, notInterned)
	case "asn":
		return p.uint32Into(&r.ASN)
	case "started_at":
		raw, err := p.rawValue(1)
		if err != nil {
			return err
		}
		return r.StartedAt.UnmarshalJSON(raw)
	case "duration_ms":
		return p.floatInto(&r.DurationMS)
	case "ok":
		return p.boolInto(&r.OK)
	case "error":
		return p.errorInto(&r.Error)
	case "phases":
		return p.phasesInto(&r.Phases)
	case "details":
		raw, err := p.rawValue(1)
		if err != nil {
			return err
		}
		r.Details = p.keep(raw)
		return nil
	}
	return p.unknown(key, 1)
}

// unknown skips the value of a key that names no field, unless the key
// could name one under encoding/json's case-insensitive matching.
func (p *batchParser) unknown(key []byte, depth int) error {
	for _, c := range key {
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return errUnusual
		}
	}
	return p.skip(depth)
}

func (p *batchParser) errorInto(dst **results.Error) error {
	if p.literal("null") {
		*dst = nil
		return nil
	}
	if !p.consume('{') {
		return p.typeError("an error object")
	}
	if *dst == nil {
		*dst = new(results.Error)
	}
	e := *dst
	return p.members(func(key []byte) error {
		switch string(key) {
		case "layer":
			return p.stringInto((*string)(&e.Layer), fieldLayer)
		case "code":
			return p.stringInto((*string)(&e.Code), fieldCode)
		case "message":
			return p.stringInto(&e.Message, fieldMessage)
		}
		return p.unknown(key, 2)
	})
}

func (p *batchParser) phasesInto(ph *results.Phases) error {
	if p.literal("null") {
		return nil
	}
	if !p.consume('{') {
		return p.typeError("a phases object")
	}
	return p.members(func(key []byte) error {
		switch string(key) {
		case "dns_ms":
			return p.floatInto(&ph.DNSMS)
		case "connect_ms":
			return p.floatInto(&ph.ConnectMS)
		case "tls_ms":
			return p.floatInto(&ph.TLSMS)
		case "ttfb_ms":
			return p.floatInto(&ph.TTFBMS)
		case "transfer_ms":
			return p.floatInto(&ph.TransferMS)
		}
		return p.unknown(key, 2)
	})
}

// The string fields of a record that repeat within a batch, for
// intern.Strings.Field. A batch holds about one result of each of its
// vantage's checks: ids, endpoints, checks, targets and addresses are
// notInterned, as looking them up would only add them to the map.
const (
	notInterned = iota - 1
	fieldTeam
	fieldKind
	fieldVantage
	fieldRegion
	fieldProvider
	fieldLayer
	fieldCode
	fieldMessage
)

// stringInto decodes a string value; null leaves dst as it is, as
// encoding/json does.
func (p *batchParser) stringInto(dst *string, field int) error {
	if p.literal("null") {
		return nil
	}
	if p.peek() != '"' {
		return p.typeError("a string")
	}
	s, err := p.string(field)
	if err != nil {
		return err
	}
	*dst = s
	return nil
}

func (p *batchParser) floatInto(dst *float64) error {
	if p.literal("null") {
		return nil
	}
	num, err := p.number()
	if err != nil {
		return err
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return fmt.Errorf("number %s out of range", num)
	}
	*dst = f
	return nil
}

func (p *batchParser) uint32Into(dst *uint32) error {
	if p.literal("null") {
		return nil
	}
	num, err := p.number()
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(string(num), 10, 32)
	if err != nil {
		return fmt.Errorf("number %s is not an integer in 0..4294967295", num)
	}
	*dst = uint32(n)
	return nil
}

func (p *batchParser) boolInto(dst *bool) error {
	switch {
	case p.literal("null"):
	case p.literal("true"):
		*dst = true
	case p.literal("false"):
		*dst = false
	default:
		return p.typeError("true or false")
	}
	return nil
}

// string reads a string at p.pos. Printable ASCII without escapes is
// taken as it is; anything else is unquoted by encoding/json, whose rules
// for escapes, surrogates and invalid UTF-8 then apply unchanged.
func (p *batchParser) string(field int) (string, error) {
	start := p.pos
	plain, err := p.scanString()
	if err != nil {
		return "", err
	}
	if !plain {
		var s string
		if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
			return "", err
		}
		return s, nil
	}
	b := p.data[start+1 : p.pos-1]
	if field == notInterned {
		return string(b), nil
	}
	return p.strs.Field(field, b), nil
}

// scanString moves past the string at p.pos, checking it as JSON's
// grammar does (no control characters, only valid escapes), and reports
// whether it is plain: printable ASCII without escapes.
func (p *batchParser) scanString() (plain bool, err error) {
	data, i := p.data, p.pos+1
	for ; i < len(data); i++ {
		c := data[i]
		if c == '"' {
			p.pos = i + 1
			return true, nil
		}
		if c < 0x20 || c == '\\' || c >= 0x80 {
			break
		}
	}
	for ; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			p.pos = i + 1
			return false, nil
		case c < 0x20:
			p.pos = i
			return false, p.syntax("in a string (control character)")
		case c == '\\':
			i++
			if i >= len(data) {
				return false, p.eof()
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(data)-i <= 4 {
					return false, p.eof()
				}
				for j := i + 1; j <= i+4; j++ {
					if !isHex(data[j]) {
						p.pos = j
						return false, p.syntax("in a \\u escape")
					}
				}
				i += 4
			default:
				p.pos = i
				return false, p.syntax("in a string escape")
			}
		}
	}
	return false, p.eof()
}

// number moves past a JSON number and returns its text.
func (p *batchParser) number() ([]byte, error) {
	start := p.pos
	p.consume('-')
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		if p.pos == start {
			return nil, p.typeError("a number")
		}
		return nil, p.syntax("in a number")
	}
	if p.consume('.') {
		if !isDigit(p.peek()) {
			return nil, p.syntax("after a decimal point")
		}
		p.digits()
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if !isDigit(p.peek()) {
			return nil, p.syntax("in an exponent")
		}
		p.digits()
	}
	return p.data[start:p.pos], nil
}

func (p *batchParser) digits() {
	for isDigit(p.peek()) {
		p.pos++
	}
}

// rawValue moves past one value, checking its syntax, and returns it as
// it was sent. depth is the nesting the value sits in.
func (p *batchParser) rawValue(depth int) ([]byte, error) {
	start := p.pos
	if err := p.skip(depth); err != nil {
		return nil, err
	}
	return p.data[start:p.pos], nil
}

// skip moves past one value, checking its syntax as encoding/json does.
func (p *batchParser) skip(depth int) error {
	switch c := p.peek(); {
	case c == '{' || c == '[':
		if depth+1 > maxDepth {
			return fmt.Errorf("exceeded max depth %d", maxDepth)
		}
		p.pos++
		if c == '{' {
			return p.members(func([]byte) error { return p.skip(depth + 1) })
		}
		return p.elements(depth + 1)
	case c == '"':
		_, err := p.scanString()
		return err
	case c == '-' || isDigit(c):
		_, err := p.number()
		return err
	case p.literal("true") || p.literal("false") || p.literal("null"):
		return nil
	case p.pos >= len(p.data):
		return p.eof()
	}
	return p.syntax("looking for a value")
}

// elements moves past the elements of an array whose '[' is consumed.
func (p *batchParser) elements(depth int) error {
	p.ws()
	if p.consume(']') {
		return nil
	}
	for {
		p.ws()
		if err := p.skip(depth); err != nil {
			return err
		}
		p.ws()
		if p.consume(',') {
			continue
		}
		if p.consume(']') {
			return nil
		}
		return p.syntax("after an array element")
	}
}

// keep copies b into the batch's arena.
func (p *batchParser) keep(b []byte) []byte {
	if cap(p.arena)-len(p.arena) < len(b) {
		p.arena = make([]byte, 0, max(len(b), 64<<10))
	}
	n := len(p.arena)
	p.arena = append(p.arena, b...)
	return p.arena[n:len(p.arena):len(p.arena)]
}

func (p *batchParser) ws() {
	i := p.pos
	for i < len(p.data) && (p.data[i] == ' ' || p.data[i] == '\n' || p.data[i] == '\t' || p.data[i] == '\r') {
		i++
	}
	p.pos = i
}

func (p *batchParser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *batchParser) consume(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// literal consumes lit (true, false or null) if it is next.
func (p *batchParser) literal(lit string) bool {
	if len(p.data)-p.pos >= len(lit) && string(p.data[p.pos:p.pos+len(lit)]) == lit {
		p.pos += len(lit)
		return true
	}
	return false
}

func (p *batchParser) syntax(where string) error {
	if p.pos >= len(p.data) {
		return p.eof()
	}
	return fmt.Errorf("%w: unexpected %q at offset %d %s", errSyntax, p.data[p.pos], p.pos, where)
}

func (p *batchParser) eof() error {
	return fmt.Errorf("%w: unexpected end of input", errSyntax)
}

// typeError says that the value at p.pos is not of the wanted kind.
func (p *batchParser) typeError(want string) error {
	if p.pos >= len(p.data) {
		return p.eof()
	}
	return fmt.Errorf("want %s at offset %d", want, p.pos)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
