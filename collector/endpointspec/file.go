package endpointspec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/picketnet/picket/internal/config"
	"github.com/picketnet/picket/results"
)

// Limits on an endpoints file.
const (
	MaxFileBytes = 4 << 20
	// maxNodes bounds the YAML nodes visited, aliases included, so that an
	// alias bomb cannot make the conversion explode.
	maxNodes = 1 << 20
	maxDepth = 64
)

// File is a parsed endpoints file.
type File struct {
	Name      string
	Endpoints []results.Endpoint
	// lines maps a field path ("endpoints[0].checks[2].expect") to its line.
	lines map[string]int
}

// Line returns the line of the field at path, or of its nearest ancestor
// that has one; 0 when none does.
func (f *File) Line(path string) int {
	for path != "" {
		if n, ok := f.lines[path]; ok {
			return n
		}
		path = parent(path)
	}
	return 0
}

// parent strips the last element of a path: "a.b[2]" -> "a.b" -> "a".
func parent(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		switch path[i] {
		case '.':
			return path[:i]
		case '[':
			return path[:i]
		}
	}
	return ""
}

// Locate turns a validation error into one naming the file and line.
// Errors that are not *Error pass through unchanged.
func (f *File) Locate(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.File = f.Name
	out.Line = f.Line(e.Path())
	return &out
}

// Parse reads an endpoints file. Unknown keys, wrong types and YAML
// syntax errors are *Errors with the file and line; the checks are not
// validated here (see Validate).
func Parse(name string, data []byte) (*File, error) {
	return parse(name, data, false)
}

// ParseEmbedded reads the endpoints: list of a file that has other
// top-level keys too (picket.yaml is collector.yaml plus endpoints); those
// belong to the enclosing configuration, whose own loader checks them. A
// file without endpoints: has none.
func ParseEmbedded(name string, data []byte) (*File, error) {
	return parse(name, data, true)
}

func parse(name string, data []byte, embedded bool) (*File, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{File: name, Index: -1, Reason: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	f := &File{Name: name, lines: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Index: -1, Reason: "empty file: expected a top-level endpoints: list"}
		}
		return nil, yamlError(name, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Line: extra.Line, Index: -1, Reason: "more than one YAML document"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, f.errAt(root, -1, "", "expected a mapping with an endpoints: list")
	}
	if k := duplicateKey(root); k != nil {
		return nil, f.errAt(k.dup, -1, "", k.reason())
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
		case k.Value == "endpoints":
			list = v
		case !embedded:
			return nil, f.errAt(k, -1, "", fmt.Sprintf("unknown key %q; the file has one key, endpoints", k.Value))
		}
	}
	if list == nil && embedded {
		return f, nil
	}
	if list == nil {
		return nil, f.errAt(root, -1, "", "missing endpoints: list")
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return f, nil // "endpoints:" with nothing: the team wants none
	}
	if list.Kind != yaml.SequenceNode {
		return nil, f.errAt(list, -1, "", "endpoints must be a list")
	}
	f.lines["endpoints"] = list.Line
	for i, n := range list.Content {
		e, err := f.endpoint(i, n)
		if err != nil {
			return nil, err
		}
		f.Endpoints = append(f.Endpoints, e)
	}
	return f, nil
}

func (f *File) errAt(n *yaml.Node, index int, field, reason string) *Error {
	return &Error{File: f.Name, Line: n.Line, Index: index, Field: field, Reason: reason}
}

func (f *File) endpoint(i int, n *yaml.Node) (results.Endpoint, error) {
	base := fmt.Sprintf("endpoints[%d]", i)
	f.lines[base] = n.Line
	var e results.Endpoint
	if n.Kind != yaml.MappingNode {
		return e, f.errAt(n, i, "", "expected a mapping with name, target, checks, regions, alert")
	}
	// The name first, so that errors about other fields can name the endpoint.
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "name" {
			e.Name = n.Content[j+1].Value
			break
		}
	}
	fail := func(at *yaml.Node, field, reason string) error {
		err := f.errAt(at, i, field, reason)
		err.Name = e.Name
		return err
	}
	// Decoding into nodes keeps every duplicate, and the last one would
	// win silently.
	if k := duplicateKey(n); k != nil {
		return e, fail(k.dup, k.dup.Value, k.reason())
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		f.lines[base+"."+k.Value] = k.Line
		switch k.Value {
		case "name", "target":
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return e, fail(v, k.Value, "expected a string")
			}
			if k.Value == "target" {
				e.Target = v.Value
			}
		case "checks":
			if v.Kind != yaml.SequenceNode {
				return e, fail(v, "checks", "expected a list of checks")
			}
			for c, cn := range v.Content {
				path := fmt.Sprintf("%s.checks[%d]", base, c)
				if cn.Kind != yaml.MappingNode {
					return e, fail(cn, fmt.Sprintf("checks[%d]", c), "expected a mapping such as {kind: http, interval: 30s}")
				}
				raw, err := f.toJSON(cn, path, i, e.Name)
				if err != nil {
					return e, err
				}
				e.Checks = append(e.Checks, raw)
			}
		case "regions":
			if v.Kind != yaml.SequenceNode {
				return e, fail(v, "regions", "expected a list of region names, or [all]")
			}
			for r, rn := range v.Content {
				f.lines[fmt.Sprintf("%s.regions[%d]", base, r)] = rn.Line
				if rn.Kind != yaml.ScalarNode {
					return e, fail(rn, fmt.Sprintf("regions[%d]", r), "expected a region name")
				}
				e.Regions = append(e.Regions, rn.Value)
			}
		case "alert":
			if v.Kind != yaml.MappingNode {
				return e, fail(v, "alert", "expected a mapping such as {severity: page, quorum: 2}")
			}
			raw, err := f.toJSON(v, base+".alert", i, e.Name)
			if err != nil {
				return e, err
			}
			e.Alert = raw
		default:
			return e, fail(k, k.Value, "unknown key; expected name, target, checks, regions, alert")
		}
	}
	return e, nil
}

// dupKey is a key given twice in one mapping.
type dupKey struct{ first, dup *yaml.Node }

func (d *dupKey) reason() string {
	return fmt.Sprintf("mapping key %q already defined at line %d", d.dup.Value, d.first.Line)
}

// duplicateKey returns the first key of mapping n given twice, or nil.
func duplicateKey(n *yaml.Node) *dupKey {
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if first, ok := seen[k.Value]; ok {
			return &dupKey{first: first, dup: k}
		}
		seen[k.Value] = k
	}
	return nil
}

// toJSON converts a YAML mapping to a JSON object, recording the line of
// every field below path.
func (f *File) toJSON(n *yaml.Node, path string, index int, name string) (json.RawMessage, error) {
	budget := maxNodes
	v, err := f.convert(n, path, 0, &budget)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Index, e.Name = index, name
		}
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, f.errAt(n, index, relative(path), err.Error())
	}
	return b, nil
}

// relative strips "endpoints[i]." from a path.
func relative(path string) string {
	if i := indexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return ""
}

func indexByte(s string, c byte) int { return bytes.IndexByte([]byte(s), c) }

func (f *File) convert(n *yaml.Node, path string, depth int, budget *int) (any, error) {
	*budget--
	if *budget < 0 || depth > maxDepth {
		return nil, &Error{File: f.Name, Line: n.Line, Field: relative(path), Reason: "nested too deeply or too many aliases"}
	}
	f.lines[path] = n.Line
	switch n.Kind {
	case yaml.AliasNode:
		return f.convert(n.Alias, path, depth+1, budget)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		keys := make(map[string]*yaml.Node, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, &Error{File: f.Name, Line: k.Line, Field: relative(path), Reason: "keys must be plain strings"}
			}
			if first, dup := keys[k.Value]; dup {
				return nil, &Error{File: f.Name, Line: k.Line, Field: relative(path + "." + k.Value), Reason: (&dupKey{first: first, dup: k}).reason()}
			}
			keys[k.Value] = k
			f.lines[path+"."+k.Value] = k.Line
			val, err := f.convert(v, path+"."+k.Value, depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			val, err := f.convert(c, fmt.Sprintf("%s[%d]", path, i), depth+1, budget)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		return s, nil
	case yaml.ScalarNode:
		v, err := scalar(n)
		if err != nil {
			var e *Error
			reason := err.Error()
			if errors.As(err, &e) {
				reason = e.Reason
			}
			return nil, &Error{File: f.Name, Line: n.Line, Field: relative(path), Reason: reason}
		}
		return v, nil
	}
	return nil, &Error{File: f.Name, Line: n.Line, Field: relative(path), Reason: "unsupported YAML node"}
}

// scalar converts a YAML scalar by its resolved tag. Timestamps stay
// strings: a check spec has no use for YAML's implicit time type.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		var u uint64
		if err := n.Decode(&u); err != nil {
			return nil, err
		}
		return u, nil
	case "!!float":
		var fl float64
		if err := n.Decode(&fl); err != nil {
			return nil, err
		}
		if math.IsInf(fl, 0) || math.IsNaN(fl) {
			return nil, &Error{Line: n.Line, Reason: fmt.Sprintf("%s is not a finite number", n.Value)}
		}
		return json.Number(strconv.FormatFloat(fl, 'g', -1, 64)), nil
	}
	return n.Value, nil
}

// yamlError converts a yaml.v3 syntax error into an *Error naming the
// line of the mistake, which is not always the line yaml.v3 names (see
// config.SyntaxError).
func yamlError(name string, data []byte, err error) error {
	se := config.SyntaxError(name, data, err)
	return &Error{File: name, Line: se.Line, Index: -1, Reason: trimSpace(se.Msg)}
}

func trimSpace(s string) string { return string(bytes.TrimSpace([]byte(s))) }

// Validate validates every endpoint of the file with v and returns the
// first mistake with its file and line.
func (f *File) Validate(ctx context.Context, v *Validator) error {
	return f.Locate(v.ValidateAll(ctx, f.Endpoints))
}
