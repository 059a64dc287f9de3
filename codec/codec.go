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

// ErrShort is returned by Decode when src ends inside a value.
var ErrShort = fmt.Errorf("codec: input ends inside a value")
