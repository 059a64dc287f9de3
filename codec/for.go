package codec

import (
	"fmt"
	"reflect"
	"time"
)

// For returns the built-in codec for T, chosen once by T's type, or an error
// naming T when there is none. Named types (type UserID string) have no
// built-in codec: give one explicitly. The API calls For when a user does not
// give a codec, so the error says what to do.
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
	name := reflect.TypeFor[T]().String()
	return nil, fmt.Errorf("no built-in codec for %s; give one with codec.JSON[%s]() or your own codec.Codec", name, name)
}

// MustFor is For for types known to have a built-in codec; it panics
// otherwise. Meant for package-level variables and tests.
func MustFor[T any]() Codec[T] {
	c, err := For[T]()
	if err != nil {
		panic(err)
	}
	return c
}
