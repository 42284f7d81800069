package checks

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// locateError finds where in raw, decoded into a value of type t, the
// decoder failed, and returns that failure as a *FieldError with its full
// path. It exists because encoding/json names no field for an error of a
// custom UnmarshalJSON (a bad Duration deep in a kind's options) and names
// an unknown field by its last key only, whatever its depth.
//
// With unknown empty it looks for the first value whose custom unmarshaler
// fails; with unknown set, for the first object key of that name that t
// has no field for. Both are what the decoder reports: it returns at once
// on an unmarshaler's error, and keeps the first unknown key to report at
// the end. It walks raw and t side by side in document order, as the
// decoder does, and returns nil when it finds nothing. It is only called
// after a decode has failed, so its cost does not matter.
func locateError(raw json.RawMessage, t reflect.Type, unknown string) error {
	return locate(raw, t, unknown, 0)
}

func locate(raw json.RawMessage, t reflect.Type, unknown string, depth int) error {
	const maxDepth = 64
	if depth > maxDepth {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return nil
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(reflect.TypeFor[json.Unmarshaler]()) || pt.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		if unknown != "" {
			return nil
		}
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			return asFieldError(err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		keys, values, err := objectMembers(raw)
		if err != nil {
			return nil // not an object: the decoder's own error says so
		}
		fields := jsonFields(t)
		for i, key := range keys {
			f, ok := fields.lookup(key)
			if !ok {
				if unknown != "" && key == unknown {
					return &FieldError{Field: key, Reason: reasonUnknownField}
				}
				continue
			}
			if err := locate(values[i], f.Type, unknown, depth+1); err != nil {
				return Within(key, err)
			}
		}
	case reflect.Map:
		keys, values, err := objectMembers(raw)
		if err != nil {
			return nil
		}
		for i, key := range keys {
			if err := locate(values[i], t.Elem(), unknown, depth+1); err != nil {
				return Within(key, err)
			}
		}
	case reflect.Slice, reflect.Array:
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		for i, e := range elems {
			if err := locate(e, t.Elem(), unknown, depth+1); err != nil {
				return Within("["+strconv.Itoa(i)+"]", err)
			}
		}
	case reflect.Interface:
		// Anything decodes into an interface: nothing to find below.
	}
	return nil
}

// asFieldError keeps a *FieldError (the reason a checks.Duration gives)
// and wraps any other error of a custom unmarshaler in one.
func asFieldError(err error) *FieldError {
	if fe, ok := errors.AsType[*FieldError](err); ok {
		out := *fe
		return &out
	}
	return &FieldError{Reason: strings.TrimPrefix(err.Error(), "json: "), Err: err}
}

// objectMembers returns the keys of the JSON object raw and their values,
// in document order. A key repeated is listed each time, as the decoder
// reads it each time.
func objectMembers(raw json.RawMessage) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not an object")
	}
	var (
		keys   []string
		values []json.RawMessage
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, key), append(values, v)
	}
	return keys, values, nil
}

// fieldSet is a struct's fields by their JSON names, with the fields of
// untagged embedded structs promoted, as encoding/json sees them.
type fieldSet []reflect.StructField

func jsonFields(t reflect.Type) fieldSet {
	var out fieldSet
	seen := map[string]bool{}
	// Breadth first, so that a shallower field hides a deeper one of the
	// same name, as in encoding/json.
	level := []reflect.Type{t}
	for depth := 0; len(level) > 0 && depth < 8; depth++ {
		var next []reflect.Type
		for _, st := range level {
			for i := range st.NumField() {
				f := st.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					next = append(next, ft)
					continue
				}
				if !f.IsExported() {
					continue
				}
				if name == "" {
					name = f.Name
				}
				if seen[name] {
					continue
				}
				seen[name] = true
				f.Name = name
				out = append(out, f)
			}
		}
		level = next
	}
	return out
}

// lookup finds the field a key decodes into: the exact name first, then a
// case-insensitive match, as encoding/json does.
func (fs fieldSet) lookup(key string) (reflect.StructField, bool) {
	for _, f := range fs {
		if f.Name == key {
			return f, true
		}
	}
	for _, f := range fs {
		if strings.EqualFold(f.Name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
