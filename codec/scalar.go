package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The built-in codecs. They are stateless values, so calling Append through
// the Codec interface allocates nothing.
//
// Signed integers wider than a byte are zig-zag varints and unsigned ones
// plain varints, so small values (counts, ids) take one or two bytes. Floats
// are their IEEE bits, little endian; both zeros encode as +0 and every NaN as
// one canonical NaN, so that equal keys have equal bytes (the sign of a zero
// is not kept). Strings and byte slices are a varint length and the bytes.
var (
	String  Codec[string]  = stringCodec{}
	Bytes   Codec[[]byte]  = bytesCodec{}
	Bool    Codec[bool]    = boolCodec{}
	Int     Codec[int]     = intCodec[int]{name: "int", min: math.MinInt, max: math.MaxInt}
	Int8    Codec[int8]    = int8Codec{}
	Int16   Codec[int16]   = intCodec[int16]{name: "int16", min: math.MinInt16, max: math.MaxInt16}
	Int32   Codec[int32]   = intCodec[int32]{name: "int32", min: math.MinInt32, max: math.MaxInt32}
	Int64   Codec[int64]   = intCodec[int64]{name: "int64", min: math.MinInt64, max: math.MaxInt64}
	Uint    Codec[uint]    = uintCodec[uint]{name: "uint", max: math.MaxUint}
	Uint8   Codec[uint8]   = uint8Codec{}
	Uint16  Codec[uint16]  = uintCodec[uint16]{name: "uint16", max: math.MaxUint16}
	Uint32  Codec[uint32]  = uintCodec[uint32]{name: "uint32", max: math.MaxUint32}
	Uint64  Codec[uint64]  = uintCodec[uint64]{name: "uint64", max: math.MaxUint64}
	Float32 Codec[float32] = float32Codec{}
	Float64 Codec[float64] = float64Codec{}
)

// errVarintOverflow is a varint longer than 64 bits: the input is not a loom
// encoding (or not this codec's).
var errVarintOverflow = errors.New("varint overflows 64 bits")

// uvarint reads a varint from the front of src, mapping the two failure modes
// of binary.Uvarint to ErrShort and a named overflow.
func uvarint(src []byte, what string) (uint64, int, error) {
	u, n := binary.Uvarint(src)
	if n == 0 {
		return 0, 0, fmt.Errorf("decode %s: %w", what, ErrShort)
	}
	if n < 0 {
		return 0, 0, fmt.Errorf("decode %s: %w", what, errVarintOverflow)
	}
	return u, n, nil
}

// lengthPrefixed reads a varint length and returns the bytes it announces.
// It never trusts the length beyond len(src).
func lengthPrefixed(src []byte, what string) ([]byte, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 {
		// Name the failure here only: what+" length" on every call would
		// allocate, as it escapes into the error.
		_, _, err := uvarint(src, what+" length")
		return nil, 0, err
	}
	if l > uint64(len(src)-n) {
		return nil, 0, fmt.Errorf("decode %s: length %d, %d bytes left: %w", what, l, len(src)-n, ErrShort)
	}
	end := n + int(l)
	return src[n:end], end, nil
}

type stringCodec struct{}

func (stringCodec) Append(dst []byte, v string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// Decode does not check that the bytes are UTF-8: Go strings may hold any
// bytes, and keys must round-trip exactly.
func (stringCodec) Decode(src []byte) (string, int, error) {
	b, n, err := lengthPrefixed(src, "string")
	if err != nil {
		return "", 0, err
	}
	return string(b), n, nil
}

type bytesCodec struct{}

func (bytesCodec) Append(dst []byte, v []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// Decode copies: the result must stay valid after src is reused. An empty
// slice decodes as nil (nil and empty encode alike).
func (bytesCodec) Decode(src []byte) ([]byte, int, error) {
	b, n, err := lengthPrefixed(src, "bytes")
	if err != nil {
		return nil, 0, err
	}
	if len(b) == 0 {
		return nil, n, nil
	}
	return append([]byte(nil), b...), n, nil
}

type boolCodec struct{}

func (boolCodec) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (boolCodec) Decode(src []byte) (bool, int, error) {
	if len(src) == 0 {
		return false, 0, fmt.Errorf("decode bool: %w", ErrShort)
	}
	switch src[0] {
	case 0:
		return false, 1, nil
	case 1:
		return true, 1, nil
	}
	return false, 0, fmt.Errorf("decode bool: byte 0x%02x is neither 0 nor 1", src[0])
}

// signed is the integer types encoded as zig-zag varints.
type signed interface {
	~int | ~int16 | ~int32 | ~int64
}

// unsigned is the integer types encoded as varints.
type unsigned interface {
	~uint | ~uint16 | ~uint32 | ~uint64
}

type intCodec[T signed] struct {
	name     string
	min, max int64
}

func (intCodec[T]) Append(dst []byte, v T) []byte { return binary.AppendVarint(dst, int64(v)) }

func (c intCodec[T]) Decode(src []byte) (T, int, error) {
	x, n := binary.Varint(src)
	if n == 0 {
		return 0, 0, fmt.Errorf("decode %s: %w", c.name, ErrShort)
	}
	if n < 0 {
		return 0, 0, fmt.Errorf("decode %s: %w", c.name, errVarintOverflow)
	}
	if x < c.min || x > c.max {
		return 0, 0, fmt.Errorf("decode %s: %d is out of range", c.name, x)
	}
	return T(x), n, nil
}

type uintCodec[T unsigned] struct {
	name string
	max  uint64
}

func (uintCodec[T]) Append(dst []byte, v T) []byte { return binary.AppendUvarint(dst, uint64(v)) }

func (c uintCodec[T]) Decode(src []byte) (T, int, error) {
	u, n, err := uvarint(src, c.name)
	if err != nil {
		return 0, 0, err
	}
	if u > c.max {
		return 0, 0, fmt.Errorf("decode %s: %d is out of range", c.name, u)
	}
	return T(u), n, nil
}

type int8Codec struct{}

func (int8Codec) Append(dst []byte, v int8) []byte { return append(dst, byte(v)) }

func (int8Codec) Decode(src []byte) (int8, int, error) {
	if len(src) == 0 {
		return 0, 0, fmt.Errorf("decode int8: %w", ErrShort)
	}
	return int8(src[0]), 1, nil
}

type uint8Codec struct{}

func (uint8Codec) Append(dst []byte, v uint8) []byte { return append(dst, v) }

func (uint8Codec) Decode(src []byte) (uint8, int, error) {
	if len(src) == 0 {
		return 0, 0, fmt.Errorf("decode uint8: %w", ErrShort)
	}
	return src[0], 1, nil
}

// canonicalNaN32 and canonicalNaN64 are the bits every NaN encodes as.
const (
	canonicalNaN32 uint32 = 0x7fc00000
	canonicalNaN64 uint64 = 0x7ff8000000000000
)

type float32Codec struct{}

func (float32Codec) Append(dst []byte, v float32) []byte {
	bits := math.Float32bits(v)
	switch {
	case v != v:
		bits = canonicalNaN32
	case v == 0:
		bits = 0
	}
	return binary.LittleEndian.AppendUint32(dst, bits)
}

func (float32Codec) Decode(src []byte) (float32, int, error) {
	if len(src) < 4 {
		return 0, 0, fmt.Errorf("decode float32: %w", ErrShort)
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(src)), 4, nil
}

type float64Codec struct{}

func (float64Codec) Append(dst []byte, v float64) []byte {
	bits := math.Float64bits(v)
	switch {
	case v != v:
		bits = canonicalNaN64
	case v == 0:
		bits = 0
	}
	return binary.LittleEndian.AppendUint64(dst, bits)
}

func (float64Codec) Decode(src []byte) (float64, int, error) {
	if len(src) < 8 {
		return 0, 0, fmt.Errorf("decode float64: %w", ErrShort)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(src)), 8, nil
}
