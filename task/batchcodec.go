package task

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/network"
)

// The wire form of a batch, as sent between processes:
//
//	uvarint n        number of records
//	byte    layout   batchNoTimes: no timestamps follow (every record is NoTimestamp)
//	                 batchTimes:   n zig-zag varint deltas follow, each from the previous
//	                               timestamp (the first from 0), in wrapping arithmetic
//	n values         each as its codec.Codec[T] encodes it
//
// Records of one batch usually have close, rising event times, so deltas take
// one or two bytes where a raw int64 takes eight. Wrapping arithmetic keeps
// NoTimestamp (math.MinInt64) and any mix of values exact.
const (
	batchNoTimes byte = 0
	batchTimes   byte = 1
)

// maxBatchRecords bounds the record count a decoder accepts, so that a
// corrupt count cannot make it allocate gigabytes before failing.
const maxBatchRecords = 1 << 24

// errBatchCorrupt is wrapped by every decoding failure of a batch's framing.
var errBatchCorrupt = errors.New("corrupt batch")

// NewBatchCodec returns the codec that carries *Batch[T] across processes,
// encoding each value with c. It is untyped (network.BatchCodec) because the
// network moves batches of every edge's record type without knowing T; the
// engine makes one per edge. Encoding appends to the caller's buffer and
// allocates nothing; decoding allocates the batch and its two slices, plus
// whatever c allocates for the values themselves (string bytes, say).
//
// A codec.Fallible c (codec.JSON) is called through TryAppend, so a value it
// cannot encode fails the batch's Encode with an error naming the record,
// which fails the producing task; other codecs take the plain Append loop.
func NewBatchCodec[T any](c codec.Codec[T]) network.BatchCodec {
	bc := batchCodec[T]{values: c}
	bc.fallible, _ = c.(codec.Fallible[T])
	return bc
}

type batchCodec[T any] struct {
	values   codec.Codec[T]
	fallible codec.Fallible[T] // values, when it may fail; else nil
}

// Encode implements network.BatchCodec. batch must be a *Batch[T].
func (bc batchCodec[T]) Encode(dst []byte, batch any) ([]byte, error) {
	b, ok := batch.(*Batch[T])
	if !ok {
		return dst, fmt.Errorf("encode batch: got %T, want %T (the edge's codec does not match its records)", batch, b)
	}
	if len(b.Times) != len(b.Values) {
		return dst, fmt.Errorf("encode batch: %d values but %d timestamps", len(b.Values), len(b.Times))
	}
	start := len(dst)
	dst = binary.AppendUvarint(dst, uint64(len(b.Values)))
	layout := batchNoTimes
	for _, ts := range b.Times {
		if ts != NoTimestamp {
			layout = batchTimes
			break
		}
	}
	dst = append(dst, layout)
	if layout == batchTimes {
		var prev int64
		for _, ts := range b.Times {
			dst = binary.AppendVarint(dst, ts-prev) // wraps; Decode adds back in wrapping arithmetic
			prev = ts
		}
	}
	if bc.fallible != nil {
		for i := range b.Values {
			var err error
			if dst, err = bc.fallible.TryAppend(dst, b.Values[i]); err != nil {
				return dst[:start], fmt.Errorf("encode batch: record %d of %d: %w", i, len(b.Values), err)
			}
		}
		return dst, nil
	}
	for i := range b.Values {
		dst = bc.values.Append(dst, b.Values[i])
	}
	return dst, nil
}

// Decode implements network.BatchCodec: it reads one whole batch, which must
// fill src exactly, and returns it as a *Batch[T].
func (bc batchCodec[T]) Decode(src []byte) (any, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 {
		return nil, fmt.Errorf("decode batch: record count: %w", errBatchCorrupt)
	}
	if n > maxBatchRecords {
		return nil, fmt.Errorf("decode batch: record count %d exceeds %d: %w", n, maxBatchRecords, errBatchCorrupt)
	}
	pos := k
	if pos >= len(src) {
		return nil, fmt.Errorf("decode batch of %d records: layout byte missing: %w", n, errBatchCorrupt)
	}
	layout := src[pos]
	pos++
	b := &Batch[T]{Values: make([]T, n), Times: make([]int64, n)}
	switch layout {
	case batchNoTimes:
		for i := range b.Times {
			b.Times[i] = NoTimestamp
		}
	case batchTimes:
		if n > uint64(len(src)-pos) { // every delta takes at least one byte
			return nil, fmt.Errorf("decode batch: %d timestamps announced, %d bytes left: %w", n, len(src)-pos, errBatchCorrupt)
		}
		var prev int64
		for i := range b.Times {
			d, k := binary.Varint(src[pos:])
			if k <= 0 {
				return nil, fmt.Errorf("decode batch: timestamp of record %d at byte %d: %w", i, pos, errBatchCorrupt)
			}
			pos += k
			prev += d
			b.Times[i] = prev
		}
	default:
		return nil, fmt.Errorf("decode batch: unknown layout byte 0x%02x at byte %d: %w", layout, pos-1, errBatchCorrupt)
	}
	for i := range b.Values {
		v, k, err := bc.values.Decode(src[pos:])
		if err != nil {
			return nil, fmt.Errorf("decode batch: value of record %d of %d at byte %d: %w", i, n, pos, err)
		}
		b.Values[i] = v
		pos += k
	}
	if pos != len(src) {
		return nil, fmt.Errorf("decode batch of %d records: %d bytes left over after the last value: %w", n, len(src)-pos, errBatchCorrupt)
	}
	return b, nil
}
