package task

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/codec"
)

func TestBatchCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		times  []int64
	}{
		{"empty", nil, nil},
		{"no timestamps", []string{"a", "bb", ""}, []int64{NoTimestamp, NoTimestamp, NoTimestamp}},
		{"rising times", []string{"x", "y", "z"}, []int64{1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_050}},
		{"falling and negative times", []string{"x", "y", "z"}, []int64{5, -3, math.MinInt64 + 1}},
		{"mixed with NoTimestamp", []string{"x", "y", "z", "w"}, []int64{10, NoTimestamp, math.MaxInt64, 0}},
		{"long value", []string{strings.Repeat("v", 5000)}, []int64{42}},
	}
	bc := NewBatchCodec(codec.String)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatch[string](len(tt.values))
			for i, v := range tt.values {
				b.Append(tt.times[i], v)
			}
			buf, err := bc.Encode([]byte("prefix"), b)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:6]) != "prefix" {
				t.Fatalf("Encode overwrote dst: %q", buf[:6])
			}
			got, err := bc.Decode(buf[6:])
			if err != nil {
				t.Fatal(err)
			}
			gb := got.(*Batch[string])
			if !slices.Equal(gb.Values, b.Values) || !slices.Equal(gb.Times, b.Times) || len(gb.Values) != len(tt.values) {
				t.Fatalf("round trip: got %q %v, want %q %v", gb.Values, gb.Times, b.Values, b.Times)
			}
		})
	}
}

func TestBatchCodecCompactTimes(t *testing.T) {
	b := NewBatch[int64](100)
	for i := range 100 {
		b.Append(1_700_000_000_000+int64(i), int64(i))
	}
	buf, err := NewBatchCodec(codec.Int64).Encode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	// 100 one-byte deltas after a 6-byte first timestamp, 100 values of 1-2
	// bytes: far below 100 raw int64 timestamps (800 bytes).
	if len(buf) > 350 {
		t.Errorf("batch of 100 rising timestamps encodes to %d bytes, want deltas of a byte or two", len(buf))
	}
}

func TestBatchCodecRejectsBadInput(t *testing.T) {
	bc := NewBatchCodec(codec.Int64)
	good, err := bc.Encode(nil, &Batch[int64]{Values: []int64{1, 2}, Times: []int64{10, 20}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  []byte
		want string
	}{
		{"empty", nil, "record count"},
		{"no layout", []byte{2}, "layout byte missing"},
		{"unknown layout", []byte{1, 7, 2}, "unknown layout byte 0x07"},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "exceeds"},
		{"more timestamps than bytes", []byte{5, 1, 2}, "5 timestamps announced"},
		{"truncated value", good[:len(good)-1], "value of record 1 of 2"},
		{"trailing bytes", append(slices.Clone(good), 9), "1 bytes left over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bc.Decode(tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode(%v) = %v, want an error containing %q", tt.src, err, tt.want)
			}
		})
	}
	if _, err := bc.Decode(good[:len(good)-1]); !errors.Is(err, codec.ErrShort) {
		t.Errorf("truncated value: %v, want codec.ErrShort wrapped", err)
	}
	if _, err := bc.Encode(nil, &Batch[string]{}); err == nil || !strings.Contains(err.Error(), "*task.Batch[int64]") {
		t.Errorf("encoding a batch of the wrong type: %v, want an error naming the expected type", err)
	}
	if _, err := bc.Encode(nil, &Batch[int64]{Values: []int64{1}}); err == nil {
		t.Error("encoding a batch with fewer timestamps than values succeeded")
	}
}

func TestBatchCodecAllocations(t *testing.T) {
	bc := NewBatchCodec(codec.Int64)
	b := NewBatch[int64](1000)
	for i := range 1000 {
		b.Append(int64(i)*3, int64(i))
	}
	buf := make([]byte, 0, 16<<10)
	enc := testing.AllocsPerRun(50, func() {
		var err error
		if buf, err = bc.Encode(buf[:0], b); err != nil {
			t.Fatal(err)
		}
	})
	if enc != 0 {
		t.Errorf("Encode allocates %.0f times per batch, want 0", enc)
	}
	dec := testing.AllocsPerRun(50, func() {
		if _, err := bc.Decode(buf); err != nil {
			t.Fatal(err)
		}
	})
	if dec > 3 { // the batch, its values, its timestamps
		t.Errorf("Decode allocates %.0f times per batch of 1000, want at most 3", dec)
	}
}

func BenchmarkBatchCodec(b *testing.B) {
	const n = 1000
	ints := NewBatch[int64](n)
	strs := NewBatch[string](n)
	for i := range n {
		ints.Append(1_700_000_000_000+int64(i), int64(i)*7919)
		strs.Append(1_700_000_000_000+int64(i), "word-"+strings.Repeat("x", i%16))
	}
	run := func(b *testing.B, bc interface {
		Encode([]byte, any) ([]byte, error)
		Decode([]byte) (any, error)
	}, batch any) {
		buf, _ := bc.Encode(nil, batch)
		b.Run("encode", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = bc.Encode(buf[:0], batch)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run("decode", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.Decode(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
	b.Run("int64", func(b *testing.B) { run(b, NewBatchCodec(codec.Int64), ints) })
	b.Run("string", func(b *testing.B) { run(b, NewBatchCodec(codec.String), strs) })
}

// TestBatchCodecUnencodableRecord checks that a record the value codec cannot
// encode (NaN through codec.JSON) fails Encode with an error naming the record
// and the problem, leaving dst as it was, instead of panicking.
func TestBatchCodecUnencodableRecord(t *testing.T) {
	type reading struct{ Value float64 }
	bc := NewBatchCodec(codec.JSON[reading]())
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		b := NewBatch[reading](3)
		b.Append(NoTimestamp, reading{1})
		b.Append(NoTimestamp, reading{bad})
		b.Append(NoTimestamp, reading{3})
		buf, err := bc.Encode([]byte("prefix"), b)
		want := "encode batch: record 1 of 3: codec.JSON[task.reading]: field Value: " +
			strconv.FormatFloat(bad, 'g', -1, 64) + " cannot be encoded as JSON"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %q", err, want)
		}
		if string(buf) != "prefix" {
			t.Errorf("a failed Encode left %q in dst", buf)
		}
	}
}
