package checks_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
)

// locateOpts has the shapes a kind's options take: nested structs,
// slices, maps, pointers, an embedded struct, and Durations at every depth.
type locateOpts struct {
	Wait   checks.Duration  `json:"wait"`
	Expect *locateExpect    `json:"expect"`
	Steps  []locateStep     `json:"steps"`
	ByName map[string]steps `json:"by_name"`
	Hidden string           `json:"-"`
	locateEmbedded
}

type locateEmbedded struct {
	ServerName string          `json:"server_name"`
	Linger     checks.Duration `json:"linger"`
}

type locateExpect struct {
	Within checks.Duration `json:"within"`
	Min    int             `json:"min"`
}

type locateStep struct {
	After checks.Duration `json:"after"`
	Name  string          `json:"name"`
}

type steps []locateStep

// A user who mistypes a duration or a key deep in a spec must be told
// where it is, since the YAML front end turns the path into a file line.
func TestDecodeOptionsPaths(t *testing.T) {
	tests := []struct {
		spec   string
		field  string
		reason string
	}{
		{`{"wait":"soon"}`, "wait", `bad duration "soon"`},
		{`{"wait":30}`, "wait", "expected a duration"},
		{"{\"wait\":{\n\"a\":\n1}}", "wait", `got {"a":1}`}, // one line, whatever the input's layout
		{`{"expect":{"min":1,"within":"5 minutes"}}`, "expect.within", `bad duration "5 minutes"`},
		{`{"steps":[{"after":"1s"},{"after":"x"}]}`, "steps[1].after", `bad duration "x"`},
		{`{"by_name":{"a":[{"after":"1s"}],"b":[{"name":"n","after":"1q"}]}}`, "by_name.b[0].after", `bad duration "1q"`},
		{`{"linger":"forever"}`, "linger", `bad duration "forever"`},
		{`{"EXPECT":{"Within":"x"}}`, "EXPECT.Within", `bad duration "x"`},
		// The decoder stops at the first bad duration, in document order.
		{`{"steps":[{"after":"a"}],"wait":"b"}`, "steps[0].after", `"a"`},
		{`{"expect":{"mni":1}}`, "expect.mni", "unknown field"},
		{`{"steps":[{"name":"a"},{"nmae":"b"}]}`, "steps[1].nmae", "unknown field"},
		{`{"by_name":{"x":[{"aftre":"1s"}]}}`, "by_name.x[0].aftre", "unknown field"},
		{`{"Hidden":"x"}`, "Hidden", "unknown field"},
		// The same unknown key at two depths: the first in document order.
		{`{"expect":{"zz":1},"zz":2}`, "expect.zz", "unknown field"},
		// An unmarshaler's error wins over an unknown key met before it,
		// as the decoder returns at once on the former.
		{`{"zz":1,"wait":"x"}`, "wait", "bad duration"},
		// Type mismatches keep encoding/json's own path.
		{`{"expect":{"min":"one"}}`, "expect.min", "expected int"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			var o locateOpts
			fe := checktest.WantFieldError(t, checks.DecodeOptions(json.RawMessage(tt.spec), &o))
			if fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Fatalf("field %q reason %q; want field %q, reason containing %q", fe.Field, fe.Reason, tt.field, tt.reason)
			}
		})
	}
}

func TestDecodeOptionsAcceptsValid(t *testing.T) {
	spec := `{"kind":"x","timeout":"3s","wait":"2s","expect":{"within":"1m"},"steps":[{"after":"1ms"}],"by_name":{"a":[{"after":"5s"}]},"linger":"4s"}`
	var o locateOpts
	if err := checks.DecodeOptions(json.RawMessage(spec), &o); err != nil {
		t.Fatal(err)
	}
	if o.Wait.Std().String() != "2s" || o.Expect.Within.Std().String() != "1m0s" || o.Steps[0].After.Std().String() != "1ms" ||
		o.ByName["a"][0].After.Std().String() != "5s" || o.Linger.Std().String() != "4s" {
		t.Errorf("decoded %+v", o)
	}
}

// FuzzDecodeOptions: any input gives either a decoded value or a
// *FieldError, never a panic, and a path found is one of the input's.
func FuzzDecodeOptions(f *testing.F) {
	for _, s := range []string{
		`{"wait":"soon"}`, `{"steps":[{"after":"x"}]}`, `{"by_name":{"a":[{"after":"1q"}]}}`,
		`{"expect":{"mni":1}}`, `{"expect":null,"steps":null}`, `[]`, `{"linger":"1s","LINGER":"x"}`,
		`{"steps":[[[[{}]]]]}`, `{"by_name":{"":[{"":""}]}}`, "{\"wait\":[\n1,\n2]}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		var o locateOpts
		err := checks.DecodeOptions(json.RawMessage(spec), &o)
		if err == nil {
			return
		}
		fe := checktest.WantFieldError(t, err)
		if strings.Contains(spec, `\`) || !utf8.ValidString(spec) {
			return // escaped or invalid keys are not in the input as written
		}
		for part := range strings.FieldsFuncSeq(fe.Field, func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
			if strings.Trim(part, "0123456789") == "" {
				continue // an index
			}
			if !strings.Contains(spec, part) {
				t.Fatalf("DecodeOptions(%q) names field %q, whose part %q is not in the input", spec, fe.Field, part)
			}
		}
	})
}

func TestSpecTimeout(t *testing.T) {
	tests := []struct {
		spec   string
		want   time.Duration
		reason string // of the *FieldError on "timeout"; "" when valid
	}{
		{``, checks.DefaultTimeout, ""},
		{`{}`, checks.DefaultTimeout, ""},
		{`{"timeout":"3s"}`, 3 * time.Second, ""},
		{`{"timeout":"0s"}`, checks.DefaultTimeout, ""},
		{`{"timeout":"-1s"}`, 0, "outside"},
		{`{"timeout":"6m"}`, 0, "outside"},
		{`{"timeout":"soon"}`, 0, `bad duration "soon"`},
		{"{\"timeout\":[\n1,\n2]}", 0, "got [ 1, 2]"}, // one line, whatever the input's layout
	}
	for _, tt := range tests {
		got, err := checks.SpecTimeout(json.RawMessage(tt.spec))
		if tt.reason == "" {
			if err != nil || got != tt.want {
				t.Errorf("SpecTimeout(%s) = %v, %v; want %v", tt.spec, got, err, tt.want)
			}
			continue
		}
		var fe *checks.FieldError
		if !errors.As(err, &fe) || fe.Field != "timeout" || !strings.Contains(fe.Reason, tt.reason) {
			t.Errorf("SpecTimeout(%s) = %v; want a FieldError on timeout, reason containing %q", tt.spec, err, tt.reason)
		}
	}
}
