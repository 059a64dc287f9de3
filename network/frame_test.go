package network

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// bytesCodec is a BatchCodec whose batches are byte strings, enough to test
// framing without the runtime's batches.
type bytesCodec struct{}

func (bytesCodec) Encode(dst []byte, b any) ([]byte, error) {
	s, ok := b.(string)
	if !ok {
		return dst, fmt.Errorf("want a string, got %T", b)
	}
	return append(dst, s...), nil
}

func (bytesCodec) Decode(src []byte) (any, error) { return string(src), nil }

func TestFrameRoundTrip(t *testing.T) {
	elems := []Element{
		{Kind: KindBatch, Batch: "hello"},
		{Kind: KindBatch, Batch: ""},
		{Kind: KindBatch, Batch: strings.Repeat("x", 300)},
		{Kind: KindWatermark, Timestamp: math.MinInt64},
		{Kind: KindWatermark, Timestamp: 1_700_000_000_000},
		{Kind: KindBarrier, Checkpoint: 7, Timestamp: 1_700_000_000_123},
		{Kind: KindIdle, Idle: true},
		{Kind: KindIdle, Idle: false},
		{Kind: KindEndOfInput},
	}
	var buf []byte
	for _, e := range elems {
		var err error
		if buf, err = appendFrame(buf, e, bytesCodec{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range elems {
		got, n, err := readFrame(buf, bytesCodec{})
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got != want {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
}

func TestFrameRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		want string
	}{
		{"empty", nil, "empty frame"},
		{"unknown kind", []byte{9}, "unknown frame kind 0x09"},
		{"batch longer than buffer", []byte{frameBatch, 10, 'a'}, "batch length"},
		{"watermark cut", []byte{frameWatermark, 0x80}, "watermark"},
		{"barrier without timestamp", []byte{frameBarrier, 2}, "barrier timestamp"},
		{"idle flag 2", []byte{frameIdle, 2}, "idle flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readFrame(tt.src, bytesCodec{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errFrameCorrupt) {
				t.Fatalf("readFrame(%v) = %v, want a corrupt-buffer error containing %q", tt.src, err, tt.want)
			}
		})
	}
	if _, err := appendFrame(nil, Element{Kind: KindBatch, Batch: 3}, bytesCodec{}); err == nil {
		t.Error("a batch the codec refuses was framed")
	}
	if _, err := appendFrame(nil, Element{Kind: 42}, bytesCodec{}); err == nil {
		t.Error("an element of unknown kind was framed")
	}
}
