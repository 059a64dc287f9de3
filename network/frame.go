package network

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BatchCodec turns the batches of one edge into bytes and back, so that they
// can cross a process boundary. It is untyped because the network carries
// every edge's record type; task.NewBatchCodec makes one for a record
// codec. Local channels never use it: a batch between tasks of one process is
// handed over as it is.
type BatchCodec interface {
	// Encode appends the encoding of batch to dst.
	Encode(dst []byte, batch any) ([]byte, error)
	// Decode reads a whole batch from src (exactly src, no more, no less).
	// The result must not alias src: the buffer is reused once decoded.
	Decode(src []byte) (any, error)
}

// The frames of a network buffer. A buffer is a sequence of whole elements,
// each a kind byte and its payload; a batch is a uvarint length and the batch
// codec's bytes, the events are a few varints. An element is never split
// across buffers, so a consumer decodes every buffer on its own.
const (
	frameBatch     byte = 1
	frameWatermark byte = 2
	frameBarrier   byte = 3
	frameIdle      byte = 4
	frameEnd       byte = 5
)

// errFrameCorrupt is wrapped by every failure to read a buffer's frames: the
// peer is not a loom partition server of this version, or memory is corrupt.
var errFrameCorrupt = errors.New("corrupt network buffer")

// appendFrame appends the frame of e to dst, encoding a batch with bc.
func appendFrame(dst []byte, e Element, bc BatchCodec) ([]byte, error) {
	switch e.Kind {
	case KindBatch:
		dst = append(dst, frameBatch)
		// Reserve a fixed 5-byte length, filled in after the batch is encoded
		// behind it: a uvarint padded with continuation bytes is still valid,
		// and the batch is encoded once, not measured first.
		at := len(dst)
		dst = append(dst, 0x80, 0x80, 0x80, 0x80, 0)
		var err error
		dst, err = bc.Encode(dst, e.Batch)
		if err != nil {
			return dst[:at-1], err
		}
		n := len(dst) - at - 5
		if n >= 1<<28 {
			return dst[:at-1], fmt.Errorf("encoded batch of %d bytes exceeds the 256 MiB frame limit; lower the batch size", n)
		}
		putPaddedUvarint(dst[at:at+5], uint32(n))
	case KindWatermark:
		dst = append(dst, frameWatermark)
		dst = binary.AppendVarint(dst, e.Timestamp)
	case KindBarrier:
		dst = append(dst, frameBarrier)
		dst = binary.AppendVarint(dst, e.Checkpoint)
		dst = binary.AppendVarint(dst, e.Timestamp)
	case KindIdle:
		b := byte(0)
		if e.Idle {
			b = 1
		}
		dst = append(dst, frameIdle, b)
	case KindEndOfInput:
		dst = append(dst, frameEnd)
	default:
		return dst, fmt.Errorf("send element of unknown kind %d", e.Kind)
	}
	return dst, nil
}

// putPaddedUvarint writes v < 2^28 as a uvarint of exactly 5 bytes, padding
// with continuation bytes.
func putPaddedUvarint(b []byte, v uint32) {
	for i := 0; i < 4; i++ {
		b[i] = byte(v&0x7f) | 0x80
		v >>= 7
	}
	b[4] = byte(v)
}

// readFrame decodes the element at the front of src and reports the bytes it
// took. A batch is decoded with bc into a fresh batch that does not alias src.
func readFrame(src []byte, bc BatchCodec) (Element, int, error) {
	if len(src) == 0 {
		return Element{}, 0, fmt.Errorf("empty frame: %w", errFrameCorrupt)
	}
	pos := 1
	varint := func(what string) (int64, error) {
		v, k := binary.Varint(src[pos:])
		if k <= 0 {
			return 0, fmt.Errorf("%s at byte %d: %w", what, pos, errFrameCorrupt)
		}
		pos += k
		return v, nil
	}
	switch src[0] {
	case frameBatch:
		l, k := binary.Uvarint(src[pos:])
		if k <= 0 || l > uint64(len(src)-pos-k) {
			return Element{}, 0, fmt.Errorf("batch length at byte %d: %w", pos, errFrameCorrupt)
		}
		pos += k
		b, err := bc.Decode(src[pos : pos+int(l)])
		if err != nil {
			return Element{}, 0, err
		}
		return Element{Kind: KindBatch, Batch: b}, pos + int(l), nil
	case frameWatermark:
		ts, err := varint("watermark")
		return Element{Kind: KindWatermark, Timestamp: ts}, pos, err
	case frameBarrier:
		id, err := varint("barrier checkpoint id")
		if err != nil {
			return Element{}, 0, err
		}
		ts, err := varint("barrier timestamp")
		return Element{Kind: KindBarrier, Checkpoint: id, Timestamp: ts}, pos, err
	case frameIdle:
		if len(src) < 2 || src[1] > 1 {
			return Element{}, 0, fmt.Errorf("idle flag: %w", errFrameCorrupt)
		}
		return Element{Kind: KindIdle, Idle: src[1] == 1}, 2, nil
	case frameEnd:
		return Element{Kind: KindEndOfInput}, 1, nil
	}
	return Element{}, 0, fmt.Errorf("unknown frame kind 0x%02x: %w", src[0], errFrameCorrupt)
}
