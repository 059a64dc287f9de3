package codec

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// JSON returns a codec that stores T as length-prefixed encoding/json. It is
// the explicit opt-in for user structs where speed does not matter: it
// reflects and allocates on every value. It is not canonical for keys whose
// JSON depends on map order or floating-point formatting; use it for values.
//
// The codec is Fallible: TryAppend returns an error for a value
// encoding/json rejects (a NaN or infinite float, a channel, a failing
// MarshalJSON), naming T, the field and the problem, e.g.
// "codec.JSON[main.Click]: field Score: NaN cannot be encoded as JSON". Such
// a value is bad data, not a bug, so the codec never panics: Append, which
// cannot return the error, writes a marker holding it instead, and Decode of
// the marker returns it. The value is lost loudly at the first read, never
// silently.
func JSON[T any]() Codec[T] {
	return jsonCodec[T]{name: reflect.TypeFor[T]().String()}
}

type jsonCodec[T any] struct{ name string }

// jsonUnencodable starts the payload of the marker Append writes for a value
// it could not encode. No JSON text starts with a NUL byte.
const jsonUnencodable = 0

// TryAppend implements Fallible.
func (c jsonCodec[T]) TryAppend(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, &jsonEncodeError{msg: fmt.Sprintf("codec.JSON[%s]: %s", c.name, describeJSONError(v, err)), err: err}
	}
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...), nil
}

// Append implements Codec. For a value it cannot encode it appends the
// marker jsonUnencodable followed by the error's text, length-prefixed like
// a value, so that the bytes after it still decode.
func (c jsonCodec[T]) Append(dst []byte, v T) []byte {
	out, err := c.TryAppend(dst, v)
	if err == nil {
		return out
	}
	msg := err.Error()
	dst = binary.AppendUvarint(dst, uint64(1+len(msg)))
	dst = append(dst, jsonUnencodable)
	return append(dst, msg...)
}

func (c jsonCodec[T]) Decode(src []byte) (T, int, error) {
	var v T
	b, n, err := lengthPrefixed(src, "json "+c.name)
	if err != nil {
		return v, 0, err
	}
	if len(b) > 0 && b[0] == jsonUnencodable {
		return v, 0, fmt.Errorf("decode json %s: a value that could not be encoded was stored here: %s", c.name, b[1:])
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, 0, fmt.Errorf("decode json %s: %w", c.name, err)
	}
	return v, n, nil
}

// jsonEncodeError is TryAppend's error: a message in loom's words, wrapping
// encoding/json's error (an *json.UnsupportedValueError, say) for errors.As.
type jsonEncodeError struct {
	msg string
	err error
}

func (e *jsonEncodeError) Error() string { return e.msg }
func (e *jsonEncodeError) Unwrap() error { return e.err }

// describeJSONError says where in v encoding/json failed with err and why:
// "field Score: NaN cannot be encoded as JSON". encoding/json names neither
// the field nor the type that holds it, so this walks v the way the encoder
// does (exported fields, json:"-", omitempty and omitzero, marshalers) to the
// first value that matches err. It runs on the error path only. When it
// cannot find the value, it returns encoding/json's own words.
func describeJSONError(v any, err error) string {
	var (
		match   func(reflect.Value) bool
		problem string
		uv      *json.UnsupportedValueError
		ut      *json.UnsupportedTypeError
		me      *json.MarshalerError
	)
	switch {
	case errors.As(err, &ut):
		match = func(x reflect.Value) bool { return x.Type() == ut.Type }
		problem = fmt.Sprintf("a %s cannot be encoded as JSON", ut.Type)
	case errors.As(err, &me):
		match = func(x reflect.Value) bool { return x.Type() == me.Type }
		problem = strings.TrimPrefix(me.Error(), "json: ")
	case errors.As(err, &uv) && isFloat(uv.Value):
		match = func(x reflect.Value) bool {
			return isFloat(x) && (math.IsNaN(x.Float()) || math.IsInf(x.Float(), 0))
		}
		problem = strconv.FormatFloat(uv.Value.Float(), 'g', -1, 64) + " cannot be encoded as JSON"
	default:
		// A cycle, or an error of a later encoding/json: its own words.
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	w := jsonWalker{match: match, seen: map[uintptr]bool{}}
	path, found := w.walk(reflect.ValueOf(v), "", 0)
	if !found || path == "" {
		return problem
	}
	if strings.HasPrefix(path, "[") {
		return "element " + path + ": " + problem
	}
	return "field " + path + ": " + problem
}

func isFloat(v reflect.Value) bool {
	return v.IsValid() && (v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64)
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonWalker finds the first value, in encoding order, that match accepts.
type jsonWalker struct {
	match func(reflect.Value) bool
	seen  map[uintptr]bool // pointers on the current path: a cycle is not walked twice
}

// maxJSONWalkDepth stops the walk where encoding/json would report a cycle.
const maxJSONWalkDepth = 1000

func (w *jsonWalker) walk(v reflect.Value, path string, depth int) (string, bool) {
	if !v.IsValid() || depth > maxJSONWalkDepth {
		return "", false
	}
	if w.match(v) {
		return path, true
	}
	t := v.Type()
	// A marshaler decides its own encoding; encoding/json does not look inside.
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
		(v.CanAddr() && (reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType))) {
		return "", false
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || w.seen[v.Pointer()] {
			return "", false
		}
		w.seen[v.Pointer()] = true
		defer delete(w.seen, v.Pointer())
		return w.walk(v.Elem(), path, depth+1)
	case reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return w.walk(v.Elem(), path, depth+1)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			_, opts, _ := strings.Cut(tag, ",")
			fv := v.Field(i)
			if (hasJSONOption(opts, "omitempty") && isEmptyJSONValue(fv)) || (hasJSONOption(opts, "omitzero") && fv.IsZero()) {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if got, ok := w.walk(fv, p, depth+1); ok {
				return got, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return "", false // base64
		}
		for i := 0; i < v.Len(); i++ {
			if got, ok := w.walk(v.Index(i), path+"["+strconv.Itoa(i)+"]", depth+1); ok {
				return got, true
			}
		}
	case reflect.Map:
		// encoding/json writes the keys sorted by their text.
		keys := v.MapKeys()
		text := func(k reflect.Value) string { return fmt.Sprint(k.Interface()) }
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(text(a), text(b)) })
		for _, k := range keys {
			if got, ok := w.walk(v.MapIndex(k), path+"["+strconv.Quote(text(k))+"]", depth+1); ok {
				return got, true
			}
		}
	}
	return "", false
}

func hasJSONOption(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

// isEmptyJSONValue is encoding/json's test for omitempty.
func isEmptyJSONValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
