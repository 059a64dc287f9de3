package codec

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Slice returns the codec of []T: a varint count, then the elements in elem's
// encoding. Every element must encode to at least one byte (all built-in
// codecs do), which lets Decode reject an absurd count before allocating.
// An empty slice decodes as nil.
// A Fallible elem makes a Fallible slice codec.
func Slice[T any](elem Codec[T]) Codec[[]T] {
	if _, ok := elem.(Fallible[T]); ok {
		return fallibleSliceCodec[T]{sliceCodec[T]{elem: elem}}
	}
	return sliceCodec[T]{elem: elem}
}

type sliceCodec[T any] struct{ elem Codec[T] }

// fallibleSliceCodec is the slice codec of a Fallible element codec. It is a
// type of its own so that callers checking for Fallible take the plain path
// for the slices of infallible codecs.
type fallibleSliceCodec[T any] struct{ sliceCodec[T] }

func (c fallibleSliceCodec[T]) TryAppend(dst []byte, v []T) ([]byte, error) {
	start := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for i, e := range v {
		var err error
		if dst, err = TryAppend(c.elem, dst, e); err != nil {
			return dst[:start], fmt.Errorf("slice element %d of %d: %w", i, len(v), err)
		}
	}
	return dst, nil
}

func (c sliceCodec[T]) Append(dst []byte, v []T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, e := range v {
		dst = c.elem.Append(dst, e)
	}
	return dst
}

func (c sliceCodec[T]) Decode(src []byte) ([]T, int, error) {
	count, n, err := uvarint(src, "slice length")
	if err != nil {
		return nil, 0, err
	}
	if count > uint64(len(src)-n) {
		return nil, 0, fmt.Errorf("decode slice: %d elements cannot fit in %d bytes: %w", count, len(src)-n, ErrShort)
	}
	if count == 0 {
		return nil, n, nil
	}
	out := make([]T, count)
	for i := range out {
		e, m, err := c.elem.Decode(src[n:])
		if err != nil {
			return nil, 0, fmt.Errorf("decode slice element %d of %d: %w", i, count, err)
		}
		out[i] = e
		n += m
	}
	return out, n, nil
}

// Pair is two values of possibly different types: a composite key (user,
// session), or a key with its aggregate.
type Pair[A, B any] struct {
	First  A
	Second B
}

// PairOf returns the codec of Pair[A, B]: First's encoding followed by
// Second's. It is canonical when both codecs are, and Fallible when either is.
func PairOf[A, B any](a Codec[A], b Codec[B]) Codec[Pair[A, B]] {
	_, fa := a.(Fallible[A])
	_, fb := b.(Fallible[B])
	if fa || fb {
		return falliblePairCodec[A, B]{pairCodec[A, B]{a: a, b: b}}
	}
	return pairCodec[A, B]{a: a, b: b}
}

// falliblePairCodec is the pair codec when a part is Fallible (see
// fallibleSliceCodec).
type falliblePairCodec[A, B any] struct{ pairCodec[A, B] }

func (c falliblePairCodec[A, B]) TryAppend(dst []byte, v Pair[A, B]) ([]byte, error) {
	start := len(dst)
	dst, err := TryAppend(c.a, dst, v.First)
	if err != nil {
		return dst[:start], fmt.Errorf("pair first: %w", err)
	}
	if dst, err = TryAppend(c.b, dst, v.Second); err != nil {
		return dst[:start], fmt.Errorf("pair second: %w", err)
	}
	return dst, nil
}

type pairCodec[A, B any] struct {
	a Codec[A]
	b Codec[B]
}

func (c pairCodec[A, B]) Append(dst []byte, v Pair[A, B]) []byte {
	return c.b.Append(c.a.Append(dst, v.First), v.Second)
}

func (c pairCodec[A, B]) Decode(src []byte) (Pair[A, B], int, error) {
	var p Pair[A, B]
	a, n, err := c.a.Decode(src)
	if err != nil {
		return p, 0, fmt.Errorf("decode pair first: %w", err)
	}
	b, m, err := c.b.Decode(src[n:])
	if err != nil {
		return p, 0, fmt.Errorf("decode pair second: %w", err)
	}
	p.First, p.Second = a, b
	return p, n + m, nil
}

// Time encodes a time.Time as its Unix nanoseconds (a zig-zag varint), so it
// covers the years 1678 to 2262. Decode returns UTC; the location and the
// monotonic clock reading are not kept, which makes equal instants encode
// alike whatever their location.
var Time Codec[time.Time] = timeCodec{}

type timeCodec struct{}

func (timeCodec) Append(dst []byte, v time.Time) []byte {
	return binary.AppendVarint(dst, v.UnixNano())
}

func (timeCodec) Decode(src []byte) (time.Time, int, error) {
	x, n := binary.Varint(src)
	if n == 0 {
		return time.Time{}, 0, fmt.Errorf("decode time: %w", ErrShort)
	}
	if n < 0 {
		return time.Time{}, 0, fmt.Errorf("decode time: %w", errVarintOverflow)
	}
	return time.Unix(0, x).UTC(), n, nil
}
