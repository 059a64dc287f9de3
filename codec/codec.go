// Package codec holds the compact binary encodings loom uses for keys, state
// values and (later) records on the network. Codecs append to a caller-owned
// buffer and decode from a byte slice, so the hot path allocates nothing.
package codec

import (
	"fmt"
)

// Codec encodes and decodes values of one type.
//
// Append must append the encoding of v to dst and return the extended slice.
// Decode must read one value from the front of src and report how many bytes
// it consumed. Encodings are self-delimiting, so values can be concatenated.
// Equal values must have equal encodings when the codec is used for keys: the
// key's bytes decide its key group in every process.
type Codec[T any] interface {
	Append(dst []byte, v T) []byte
	Decode(src []byte) (v T, n int, err error)
}

// Fallible is a Codec that cannot encode every value of its type: JSON
// rejects what encoding/json rejects (NaN, infinities, channels, a failing
// MarshalJSON). TryAppend is Append that says so: it returns dst unchanged
// and an error naming the type and the value's problem.
//
// Append keeps its signature, so every Codec composes with every caller;
// a Fallible codec's Append must still not panic (see JSON for what it
// writes instead). Callers that have an error path encode with the function
// TryAppend, or check for Fallible once when they are built, as the batch
// codec of the network does.
type Fallible[T any] interface {
	Codec[T]
	TryAppend(dst []byte, v T) ([]byte, error)
}

// TryAppend appends c's encoding of v to dst, returning the error of a
// Fallible codec that cannot encode v (dst is then unchanged). Infallible
// codecs are called through Append.
func TryAppend[T any](c Codec[T], dst []byte, v T) ([]byte, error) {
	if f, ok := c.(Fallible[T]); ok {
		return f.TryAppend(dst, v)
	}
	return c.Append(dst, v), nil
}

// ErrShort is returned by Decode when src ends inside a value.
var ErrShort = fmt.Errorf("codec: input ends inside a value")
