package codec

import (
	"reflect"
	"time"
)

// For returns the codec for T: the built-in one when T has one, otherwise one
// derived from T's structure (see derive.go) when T is plain data: structs,
// arrays and slices of scalars, strings, time.Time and each other, and named
// types of those. Derivation happens once per type. For a type with a pointer,
// map, interface or other unsupported part, the error names T and the first
// such field, and says what to do: the API calls For when a user does not give
// a codec.
func For[T any]() (Codec[T], error) {
	var zero T
	var c any
	switch any(zero).(type) {
	case string:
		c = String
	case []byte:
		c = Bytes
	case bool:
		c = Bool
	case int:
		c = Int
	case int8:
		c = Int8
	case int16:
		c = Int16
	case int32:
		c = Int32
	case int64:
		c = Int64
	case uint:
		c = Uint
	case uint8:
		c = Uint8
	case uint16:
		c = Uint16
	case uint32:
		c = Uint32
	case uint64:
		c = Uint64
	case float32:
		c = Float32
	case float64:
		c = Float64
	case time.Time:
		c = Time
	case []string:
		c = Slice(String)
	case []int:
		c = Slice(Int)
	case []int64:
		c = Slice(Int64)
	case []float64:
		c = Slice(Float64)
	}
	if tc, ok := c.(Codec[T]); ok {
		return tc, nil
	}
	p, err := planOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return derivedCodec[T]{p: p}, nil
}

// MustFor is For for types known to have a codec; it panics
// otherwise. Meant for package-level variables and tests.
func MustFor[T any]() Codec[T] {
	c, err := For[T]()
	if err != nil {
		panic(err)
	}
	return c
}
