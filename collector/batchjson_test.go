package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/picketnet/picket/results"
)

// TestParseBatchMatchesEncodingJSON: on records probers send and on every
// corner of JSON a client might produce, the parser yields what
// encoding/json yields: the same records or an error for both.
func TestParseBatchMatchesEncodingJSON(t *testing.T) {
	const rec = `{"id":"0192","endpoint":"shop","team":"web","check":"shop/http","kind":"http","vantage":"v1","region":"eu","provider":"aws","asn":64500,"target":"https://shop.example/","addr":"203.0.113.7","started_at":"2026-11-21T10:00:00.123456789Z","duration_ms":81.25,"ok":false,"error":{"layer":"http","code":"status","message":"status 503"},"phases":{"dns_ms":1.5,"connect_ms":2e1,"tls_ms":0,"ttfb_ms":-0.0,"transfer_ms":1E-3},"details":{"status":503,"h":[1,{"a":null}]}}`
	tests := map[string]string{
		"a full record":                 `{"results":[` + rec + `,` + rec + `]}`,
		"whitespace everywhere":         " \t\n{ \"results\" :\r[ {\"id\" : \"a\" , \"ok\" : true } ] } \n",
		"empty list":                    `{"results":[]}`,
		"null list":                     `{"results":null}`,
		"no list":                       `{"other":1}`,
		"not an object":                 `[]`,
		"empty body":                    ``,
		"list is a string":              `{"results":"x"}`,
		"later list wins":               `{"results":[{"id":"a"}],"results":[{"id":"b"}]}`,
		"other keys skipped":            `{"v":{"a":[1,2,{"b":"c\u00e9"}]},"results":[{"id":"a","future":{"x":[true,false,null]}}],"w":-1.5e3}`,
		"null record":                   `{"results":[null]}`,
		"record is a number":            `{"results":[1]}`,
		"nulls leave fields":            `{"results":[{"id":null,"asn":null,"ok":null,"duration_ms":null,"phases":null,"started_at":null,"error":null}]}`,
		"details null":                  `{"results":[{"id":"a","details":null}]}`,
		"details string":                `{"results":[{"id":"a","details":"x"}]}`,
		"escaped strings":               `{"results":[{"id":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00","region":"\u0000"}]}`,
		"lone surrogate":                `{"results":[{"id":"\ud800x"}]}`,
		"invalid utf-8":                 "{\"results\":[{\"id\":\"a\xffb\"}]}",
		"utf-8 text":                    `{"results":[{"id":"zürich-東京"}]}`,
		"escaped key":                   `{"results":[{"\u0069d":"a"}],"r\u0065sults":[{"id":"b"}]}`,
		"upper-case key":                `{"results":[{"ID":"a","Endpoint":"e"}]}`,
		"mixed-case key later":          `{"results":[{"id":"a","ID":"b"}]}`,
		"kelvin sign key":               `{"results":[{"\u212aind":"http"}]}`,
		"error objects merge":           `{"results":[{"error":{"layer":"dns"},"error":{"code":"timeout"}}]}`,
		"error null after object":       `{"results":[{"error":{"layer":"dns"},"error":null}]}`,
		"phases merge":                  `{"results":[{"phases":{"dns_ms":1},"phases":{"tls_ms":2}}]}`,
		"nested unknown in error":       `{"results":[{"error":{"layer":"dns","extra":[{}]}}]}`,
		"upper key in phases":           `{"results":[{"phases":{"DNS_MS":3}}]}`,
		"asn negative":                  `{"results":[{"asn":-1}]}`,
		"asn fraction":                  `{"results":[{"asn":1.5}]}`,
		"asn exponent":                  `{"results":[{"asn":1e3}]}`,
		"asn too big":                   `{"results":[{"asn":4294967296}]}`,
		"asn string":                    `{"results":[{"asn":"1"}]}`,
		"float out of range":            `{"results":[{"duration_ms":1e400}]}`,
		"leading zero":                  `{"results":[{"duration_ms":01}]}`,
		"bare minus":                    `{"results":[{"duration_ms":-}]}`,
		"dot without digits":            `{"results":[{"duration_ms":1.}]}`,
		"ok as string":                  `{"results":[{"ok":"true"}]}`,
		"time as number":                `{"results":[{"started_at":5}]}`,
		"time with offset":              `{"results":[{"started_at":"2026-11-21T12:00:00+02:00"}]}`,
		"bad time":                      `{"results":[{"started_at":"yesterday"}]}`,
		"string field as object":        `{"results":[{"team":{}}]}`,
		"error as list":                 `{"results":[{"error":[]}]}`,
		"control character":             "{\"results\":[{\"id\":\"a\x01\"}]}",
		"bad escape":                    `{"results":[{"id":"\x"}]}`,
		"short unicode escape":          `{"results":[{"id":"\u12"}]}`,
		"trailing comma in list":        `{"results":[{"id":"a"},]}`,
		"trailing comma in object":      `{"results":[],}`,
		"leading comma":                 `{,"results":[]}`,
		"missing colon":                 `{"results" []}`,
		"data after the object":         `{"results":[]} {}`,
		"truncated":                     `{"results":[{"id":"a"`,
		"truncated literal":             `{"results":[{"ok":tru}]}`,
		"deep nesting in unknown field": `{"results":[{"x":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}]}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) { compareWithEncodingJSON(t, []byte(in)) })
	}
}

func TestParseBatchRecordLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for i := range results.MaxBatchRecords + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"r%d"}`, i)
	}
	b.WriteString(`]}`)
	_, err := parseBatch([]byte(b.String()))
	if !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("%d records: %v, want ErrBatchTooLarge", results.MaxBatchRecords+1, err)
	}
}

// TestParseBatchNamesTheRecordAndField: a refused batch says which record
// and which field are wrong.
func TestParseBatchNamesTheRecordAndField(t *testing.T) {
	_, err := parseBatch([]byte(`{"results":[{"id":"a"},{"id":"b","asn":"x"}]}`))
	if !errors.Is(err, ErrBatchMalformed) || !strings.Contains(err.Error(), `record 1: "asn": want a number`) {
		t.Fatalf("got %v", err)
	}
}

// FuzzParseBatch holds the parser to encoding/json's outcome on any input.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{
		`{"results":[{"id":"a","endpoint":"e","team":"t","check":"e/http","kind":"http","vantage":"v","region":"r","provider":"p","asn":1,"target":"https://e","addr":"203.0.113.1","started_at":"2026-01-02T03:04:05Z","duration_ms":1.5,"ok":true,"phases":{"dns_ms":1,"connect_ms":2,"tls_ms":3,"ttfb_ms":4,"transfer_ms":5},"details":{"status":200}}]}`,
		`{"results":[{"ok":false,"error":{"layer":"dns","code":"nxdomain","message":"no such host"}}]}`,
		`{"results":[{"ID":"a","\u006bind":"x","details":null}],"x":[1,"\u00e9",{"y":null}]}`,
		`{"results":[null,{"asn":-0}]}`,
		`{"results":null}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { compareWithEncodingJSON(t, data) })
}

func compareWithEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	got, err := parseBatch(data)
	want, wantErr := parseBatchWithEncodingJSON(data)
	if (err == nil) != (wantErr == nil) || errors.Is(err, ErrBatchTooLarge) != errors.Is(wantErr, ErrBatchTooLarge) {
		t.Fatalf("input %q:\n got error %v\nwant error %v", data, err, wantErr)
	}
	if err != nil {
		if !errors.Is(err, ErrBatchMalformed) && !errors.Is(err, ErrBatchTooLarge) {
			t.Fatalf("input %q: error %v is neither malformed nor too large", data, err)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q:\n got %+v\nwant %+v", data, got.Results, want.Results)
	}
}

// parseBatchWithEncodingJSON is the collector's first batch decoder, built
// on encoding/json: the reference the fast parser must match.
func parseBatchWithEncodingJSON(data []byte) (results.Batch, error) {
	var b results.Batch
	malformed := func(err error) (results.Batch, error) {
		return results.Batch{}, fmt.Errorf("%w: %v", ErrBatchMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return malformed(errors.New("not an object"))
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return malformed(err)
		}
		if key != "results" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return malformed(err)
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return malformed(err)
		}
		if tok == nil {
			b.Results = nil
			continue
		}
		if tok != json.Delim('[') {
			return malformed(errors.New("not a list"))
		}
		b.Results = make([]results.Result, 0, 64)
		for dec.More() {
			if len(b.Results) == results.MaxBatchRecords {
				return results.Batch{}, ErrBatchTooLarge
			}
			b.Results = append(b.Results, results.Result{})
			if err := dec.Decode(&b.Results[len(b.Results)-1]); err != nil {
				return malformed(err)
			}
		}
		if _, err := dec.Token(); err != nil {
			return malformed(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed(errors.New("data after the object"))
	}
	if b.Results == nil {
		return malformed(errors.New("no list"))
	}
	return b, nil
}
