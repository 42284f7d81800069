package config_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/picketnet/picket/internal/config"
)

// TestSyntaxErrorLines checks that a YAML syntax error names the line of
// the mistake. The lines yaml.v3 itself prints are in the comments; the
// cases marked "yaml.v3: wrong" fail without SyntaxError's correction.
func TestSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string
	}{
		// yaml.v3: line 3 (right).
		{"indented key", "listen: a\nstore: b\n  asn_db: c\nretention: {}\n",
			"f.yaml:3: mapping values are not allowed in this context"},
		// yaml.v3: line 2 (wrong: zero-based).
		{"key dedented into nothing", "targets:\n  allow: []\n deny: []\nlisten: a\n",
			"f.yaml:3: did not find expected key"},
		// yaml.v3: line 2 (wrong: the enclosing block mapping's line, zero-based).
		{"dedent deeper down", "listen: a\nalerting:\n  latency:\n    window: 1m\n   baseline: 1h\n",
			"f.yaml:5: did not find expected key"},
		// yaml.v3: line 2 (right).
		{"tab before a key", "listen: a\n\tstore: b\nasn_db: c\n",
			"f.yaml:2: found a tab character that violates indentation"},
		// yaml.v3: line 3 (right).
		{"tab indenting a nested key", "listen: a\nretention:\n\traw: 14d\n",
			"f.yaml:3: found character that cannot start any token"},
		// yaml.v3: no line (wrong).
		{"tab on line 1", "\tlisten: a\nstore: b\n",
			"f.yaml:1: found character that cannot start any token"},
		// yaml.v3: line 4 (wrong: the end of the file).
		{"unclosed double quote on line 1", "listen: \"127.0.0.1:8080\nstore: b\nasn_db: c\n",
			"f.yaml:1: found unexpected end of stream"},
		// yaml.v3: line 3 (wrong: the end of the file).
		{"unclosed single quote on line 1", "listen: '127.0.0.1:8080\nstore: b\n",
			"f.yaml:1: found unexpected end of stream"},
		// yaml.v3: line 2 (right).
		{"unclosed quote further down", "listen: a\nstore: \"b\nasn_db: c\nretention: {}\n",
			"f.yaml:2: found unexpected end of stream"},
		// yaml.v3: line 2 (wrong: zero-based).
		{"unclosed flow sequence", "listen: a\ntargets:\n  allow: [203.0.113.0/24, 10.0.0.0/8\n  deny_private: true\nasn_db: x\n",
			"f.yaml:3: did not find expected ',' or ']'"},
		// yaml.v3: line 1 (right, by luck: zero-based line 1 is the second).
		{"unclosed flow mapping", "listen: a\nretention: {raw: 1d, minute: 2d\nasn_db: x\n",
			"f.yaml:2: did not find expected ',' or '}'"},
		// yaml.v3: line 1 (wrong: the sequence opens on line 1).
		{"mistake inside a multi-line flow sequence", "allow: [\n  10.0.0.0/8,\n  \"192.0.2.0/24\" x,\n]\n",
			"f.yaml:3: did not find expected ',' or ']'"},
		// yaml.v3: line 1 (wrong: zero-based).
		{"text after a quoted value", "listen: a\nstore: \"b\" c\nasn_db: x\n",
			"f.yaml:2: did not find expected key"},
		// yaml.v3: no line (wrong).
		{"text after a quoted value on line 1", "listen: \"a\" b\nstore: c\n",
			"f.yaml:1: did not find expected key"},
		// yaml.v3: line 2 (right).
		{"stray colon", "listen: a\nstore: sqlite:./x.db: y\nasn_db: x\n",
			"f.yaml:2: mapping values are not allowed in this context"},
		// yaml.v3: line 2 (right).
		{"key without colon", "listen: a\nstore\nasn_db: x\n",
			"f.yaml:2: could not find expected ':'"},
		// yaml.v3: line 3 (right).
		{"key without colon at the end", "listen: a\nstore: b\nasn_db\n",
			"f.yaml:3: could not find expected ':'"},
		// yaml.v3: line 2 (wrong: zero-based).
		{"list item in a mapping", "listen: a\nstore: b\n- c\n",
			"f.yaml:3: did not find expected key"},
		// yaml.v3: line 1 (wrong: zero-based).
		{"mapping in a block sequence", "collectors:\n  - https://a.example\n  token_file: x\n",
			"f.yaml:3: did not find expected '-' indicator"},
		// yaml.v3: line 1 (wrong: zero-based).
		{"block entry in a flow sequence", "allow: [10.0.0.0/8,\n  - 192.0.2.0/24]\n",
			"f.yaml:2: did not find expected node content"},
		// yaml.v3: line 2 (right).
		{"flow sequence left open at the end", "listen: a\nallow: [10.0.0.0/8,\n",
			"f.yaml:2: did not find expected node content"},
		// yaml.v3: no line (wrong).
		{"unknown alias", "listen: a\nstore: *nowhere\n",
			"f.yaml:2: unknown anchor 'nowhere' referenced"},
		// yaml.v3: no line (wrong).
		{"invalid UTF-8", "listen: a\nstore: \xff\n",
			"f.yaml:2: invalid leading UTF-8 octet"},
		// yaml.v3: line 3 (right): a duplicate key is found by the decoder,
		// with the nodes' own lines.
		{"duplicate key", "listen: a\nstore: b\nlisten: c\n",
			`f.yaml:3: mapping key "listen" already defined at line 1`},
		// yaml.v3: line 1 (wrong: zero-based); lines end in \r\n.
		{"CRLF line ends", "listen: a\r\nstore: \"b\" c\r\nasn_db: x\r\n",
			"f.yaml:2: did not find expected key"},
		// yaml.v3: line 2 (wrong: zero-based); a lone \r ends a line too.
		{"CR line ends", "listen: a\rstore: b\rasn_db: \"c\" d\r",
			"f.yaml:3: did not find expected key"},
		// yaml.v3: line 2 (right), no newline at the end of the file.
		{"no final newline", "listen: a\nstore: \"b",
			"f.yaml:2: found unexpected end of stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct {
				Listen     string    `yaml:"listen"`
				Store      string    `yaml:"store"`
				ASNDB      string    `yaml:"asn_db"`
				Retention  yaml.Node `yaml:"retention"`
				Targets    yaml.Node `yaml:"targets"`
				Alerting   yaml.Node `yaml:"alerting"`
				Allow      []string  `yaml:"allow"`
				Collectors []string  `yaml:"collectors"`
				TokenFile  string    `yaml:"token_file"`
			}
			err := config.Decode("f.yaml", []byte(tt.yaml), &v)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Decode = %v (%T), want a *config.Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

// TestSyntaxErrorPassesThrough checks that an error that is not yaml.v3's
// keeps its message.
func TestSyntaxErrorPassesThrough(t *testing.T) {
	e := config.SyntaxError("f.yaml", []byte("a: 1\n"), errors.New("something else"))
	if e.Error() != "f.yaml: something else" {
		t.Errorf("got %q", e)
	}
}

// FuzzSyntaxError checks that locating a line never panics and never
// names a line past the end of the file.
func FuzzSyntaxError(f *testing.F) {
	for _, s := range []string{"a: [1,\n", "a: \"x\nb: 2\n", "a:\n  b: 1\n c: 2\n", "\ta: 1\n", "a: 1\n---\nb: [\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		var v any
		err := config.Decode("f.yaml", []byte(in), &v)
		var ce *config.Error
		if err == nil || !errors.As(err, &ce) {
			return
		}
		// Line breaks as YAML counts them.
		lines := 1 + len(regexp.MustCompile("\r\n|[\r\n\u0085\u2028\u2029]").FindAllStringIndex(in, -1))
		if ce.Line > lines+1 {
			t.Errorf("%q: line %d past the end (%d lines): %v", in, ce.Line, lines, err)
		}
		if strings.Contains(ce.Msg, "\n") {
			t.Errorf("%q: error is not one line: %s", in, fmt.Sprint(err))
		}
	})
}

// BenchmarkSyntaxErrorLarge measures the error path on a 20,000-line file
// whose mistake (a key dedented by one space) is near its end: finding the
// line again parses prefixes of the file.
func BenchmarkSyntaxErrorLarge(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("endpoints:\n")
	for i := range 5000 {
		fmt.Fprintf(&sb, "  - name: e%d\n    target: https://203.0.113.10/\n    checks:\n      - {kind: http}\n", i)
	}
	sb.WriteString("  - name: last\n    target: x\n   checks: []\n")
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var v any
		err := config.Decode("e.yaml", data, &v)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Line != 20004 {
			b.Fatalf("%v", err)
		}
	}
}
