package postgres

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

func feedSamples() []results.Result {
	at := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)
	return []results.Result{
		{ID: "0192f1c4-0000-7000-8000-000000000001", Endpoint: "shop", Team: "web", Check: "shop/http", Kind: "http",
			Vantage: "fra-1", Region: "eu-central", Provider: "hetzner", ASN: 24940, Target: "https://shop.example/", Addr: "203.0.113.7",
			StartedAt: at, DurationMS: 81.25, OK: true,
			Phases:  results.Phases{DNSMS: 1.5, ConnectMS: 20, TLSMS: 30.25, TTFBMS: 25, TransferMS: 4.5},
			Details: []byte(`{"status":200}`)},
		{ID: "0192f1c4-0000-7000-8000-000000000002", Endpoint: "shop", Team: "web", Check: "shop/http", Kind: "http",
			Vantage: "fra-1", Region: "eu-central", Provider: "hetzner", ASN: 4294967295, Target: "https://shop.example/",
			StartedAt: at.Add(-time.Hour), DurationMS: 10000,
			Error: &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout, Message: "dial: i/o timeout ünïcode"}},
		{ID: "x", StartedAt: time.Unix(0, 0).UTC()}, // a record of zero values
	}
}

// TestFeedRecordsRoundTrip: what the ingest transaction writes is what the
// alert evaluator reads back, field by field.
func TestFeedRecordsRoundTrip(t *testing.T) {
	for _, rs := range [][]results.Result{nil, feedSamples()[:1], feedSamples()} {
		got, err := decodeFeedRecords(appendFeedRecords(nil, rs))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(rs) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, rs) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, rs)
		}
	}
}

// TestFeedRecordsOfEndpoint: reading one endpoint's records of a pack
// gives what decoding them all and keeping that endpoint's gives, and a
// damaged pack is an error also where its records are skipped.
func TestFeedRecordsOfEndpoint(t *testing.T) {
	whole := appendFeedRecords(nil, feedSamples())
	for _, endpoint := range []string{"shop", "elsewhere", ""} {
		got, err := decodeFeedRecordsOf(whole, endpoint, &intern.Strings{})
		if err != nil {
			t.Fatalf("%q: %v", endpoint, err)
		}
		want := ofEndpoint(feedSamples(), endpoint)
		if len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %+v\nwant %+v", endpoint, got, want)
		}
		for cut := range len(whole) {
			if _, err := decodeFeedRecordsOf(whole[:cut], endpoint, &intern.Strings{}); !errors.Is(err, errFeedRecords) {
				t.Fatalf("%q, cut at %d of %d bytes: %v, want errFeedRecords", endpoint, cut, len(whole), err)
			}
		}
	}
}

// ofEndpoint is the records of rs of endpoint, all when it is "".
func ofEndpoint(rs []results.Result, endpoint string) []results.Result {
	var out []results.Result
	for _, r := range rs {
		if endpoint == "" || r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

// TestFeedRecordsCorrupt: a cut or damaged row is an error, never a panic
// or a short list taken for the whole.
func TestFeedRecordsCorrupt(t *testing.T) {
	whole := appendFeedRecords(nil, feedSamples())
	for cut := range len(whole) {
		if _, err := decodeFeedRecords(whole[:cut]); !errors.Is(err, errFeedRecords) {
			t.Fatalf("cut at %d of %d bytes: %v, want errFeedRecords", cut, len(whole), err)
		}
	}
	if _, err := decodeFeedRecords(append(whole, 0)); !errors.Is(err, errFeedRecords) {
		t.Errorf("a byte too many: %v", err)
	}
	wrong := append([]byte{feedCodecVersion + 1}, whole[1:]...)
	if _, err := decodeFeedRecords(wrong); !errors.Is(err, errFeedRecords) {
		t.Errorf("another version: %v", err)
	}
}

// FuzzFeedRecords: any bytes decode or fail with errFeedRecords, and what
// decodes encodes back to the same records.
func FuzzFeedRecords(f *testing.F) {
	f.Add(appendFeedRecords(nil, feedSamples()))
	f.Add(appendFeedRecords(nil, nil))
	f.Add([]byte{feedCodecVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := decodeFeedRecords(b)
		if err != nil {
			if !errors.Is(err, errFeedRecords) {
				t.Fatalf("error %v is not errFeedRecords", err)
			}
			return
		}
		// Compared as bytes: a NaN never equals itself.
		enc := appendFeedRecords(nil, rs)
		if len(rs) > 0 {
			of, err := decodeFeedRecordsOf(b, rs[0].Endpoint+"x", &intern.Strings{})
			if err != nil || !bytes.Equal(appendFeedRecords(nil, of), appendFeedRecords(nil, ofEndpoint(rs, rs[0].Endpoint+"x"))) {
				t.Fatalf("the records of one endpoint differ from those of all: %v", err)
			}
		}
		again, err := decodeFeedRecords(enc)
		if err != nil || !bytes.Equal(appendFeedRecords(nil, again), enc) {
			t.Fatalf("records decoded from their own encoding differ: %v\n%+v\n%+v", err, again, rs)
		}
	})
}

// appendFeedRecords appends the encoding of rs to dst, as copyPacks does
// for a pack's records.
func appendFeedRecords(dst []byte, rs []results.Result) []byte {
	dst = appendFeedHeader(dst, len(rs))
	for i := range rs {
		dst = appendFeedRecord(dst, &rs[i])
	}
	return dst
}
