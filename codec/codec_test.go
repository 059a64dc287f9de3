package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkRoundTrip encodes each value after a prefix, decodes it back and
// checks the value, the consumed length, that every strict prefix of the
// encoding is ErrShort, and that encoding is deterministic.
func checkRoundTrip[T any](t *testing.T, name string, c Codec[T], vals []T, eq func(a, b T) bool) {
	t.Helper()
	for i, v := range vals {
		prefix := []byte{0xAA}
		enc := c.Append(prefix, v)
		if !bytes.Equal(enc[:1], prefix) {
			t.Fatalf("%s[%d]: Append overwrote the bytes before it", name, i)
		}
		body := enc[1:]
		got, n, err := c.Decode(append(append([]byte(nil), body...), 0xFF, 0xFF))
		if err != nil {
			t.Fatalf("%s[%d] %v: decode: %v", name, i, v, err)
		}
		if n != len(body) {
			t.Fatalf("%s[%d] %v: consumed %d bytes, encoding has %d", name, i, v, n, len(body))
		}
		if !eq(got, v) {
			t.Fatalf("%s[%d]: got %v, want %v", name, i, got, v)
		}
		if again := c.Append(nil, v); !bytes.Equal(again, body) {
			t.Fatalf("%s[%d] %v: two encodings differ: %x and %x", name, i, v, body, again)
		}
		for cut := 0; cut < len(body); cut++ {
			if _, _, err := c.Decode(body[:cut]); !errors.Is(err, ErrShort) {
				t.Fatalf("%s[%d] %v: decode of %d/%d bytes: got %v, want ErrShort", name, i, v, cut, len(body), err)
			}
		}
	}
}

func same[T comparable](a, b T) bool { return a == b }

func TestRoundTripScalars(t *testing.T) {
	checkRoundTrip(t, "String", String, []string{"", "a", "héllo", strings.Repeat("x", 300), "\x00\xff not utf8"}, same)
	checkRoundTrip(t, "Bytes", Bytes, [][]byte{nil, {0}, []byte("abc"), bytes.Repeat([]byte{7}, 200)}, func(a, b []byte) bool { return bytes.Equal(a, b) })
	checkRoundTrip(t, "Bool", Bool, []bool{false, true}, same)
	checkRoundTrip(t, "Int", Int, []int{0, 1, -1, 63, -64, 64, math.MaxInt, math.MinInt}, same)
	checkRoundTrip(t, "Int8", Int8, []int8{0, 1, -1, math.MaxInt8, math.MinInt8}, same)
	checkRoundTrip(t, "Int16", Int16, []int16{0, -1, math.MaxInt16, math.MinInt16}, same)
	checkRoundTrip(t, "Int32", Int32, []int32{0, -1, math.MaxInt32, math.MinInt32}, same)
	checkRoundTrip(t, "Int64", Int64, []int64{0, 1, -1, math.MaxInt64, math.MinInt64}, same)
	checkRoundTrip(t, "Uint", Uint, []uint{0, 1, 127, 128, math.MaxUint}, same)
	checkRoundTrip(t, "Uint8", Uint8, []uint8{0, 1, math.MaxUint8}, same)
	checkRoundTrip(t, "Uint16", Uint16, []uint16{0, math.MaxUint16}, same)
	checkRoundTrip(t, "Uint32", Uint32, []uint32{0, math.MaxUint32}, same)
	checkRoundTrip(t, "Uint64", Uint64, []uint64{0, 1 << 63, math.MaxUint64}, same)
	checkRoundTrip(t, "Float32", Float32, []float32{0, 1.5, -2.25, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1))}, same)
	checkRoundTrip(t, "Float64", Float64, []float64{0, 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1)}, same)
	nan := func(a, b float64) bool { return math.IsNaN(a) && math.IsNaN(b) }
	checkRoundTrip(t, "Float64 NaN", Float64, []float64{math.NaN()}, nan)
	tm := []time.Time{time.Unix(0, 0).UTC(), time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}
	checkRoundTrip(t, "Time", Time, tm, func(a, b time.Time) bool { return a.Equal(b) && a.Location() == time.UTC })
}

func TestRoundTripComposites(t *testing.T) {
	checkRoundTrip(t, "Slice(String)", Slice(String), [][]string{nil, {""}, {"a", "bc", ""}}, func(a, b []string) bool { return reflect.DeepEqual(a, b) })
	checkRoundTrip(t, "Slice(Slice(Int64))", Slice(Slice(Int64)), [][][]int64{nil, {{1, -2}, nil, {math.MinInt64}}}, func(a, b [][]int64) bool { return reflect.DeepEqual(a, b) })
	pc := PairOf(String, Int64)
	checkRoundTrip(t, "PairOf(String, Int64)", pc, []Pair[string, int64]{{}, {"user", -5}, {strings.Repeat("k", 130), math.MaxInt64}}, same)
	type order struct {
		ID    int
		Items []string
		Price float64
	}
	checkRoundTrip(t, "JSON[order]", JSON[order](), []order{{}, {ID: 7, Items: []string{"a"}, Price: 2.5}}, func(a, b order) bool { return reflect.DeepEqual(a, b) })
}

// Equal values that are not identical must still encode alike: keys decide
// key groups.
func TestCanonicalKeys(t *testing.T) {
	if a, b := Float64.Append(nil, 0), Float64.Append(nil, math.Copysign(0, -1)); !bytes.Equal(a, b) {
		t.Errorf("+0 and -0 encode as %x and %x", a, b)
	}
	if a, b := Float32.Append(nil, 0), Float32.Append(nil, float32(math.Copysign(0, -1))); !bytes.Equal(a, b) {
		t.Errorf("float32 +0 and -0 encode as %x and %x", a, b)
	}
	if a, b := Float64.Append(nil, math.NaN()), Float64.Append(nil, math.Float64frombits(0x7ff0000000000001)); !bytes.Equal(a, b) {
		t.Errorf("two NaNs encode as %x and %x", a, b)
	}
	utc := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	paris := utc.In(time.FixedZone("CET", 3600))
	if a, b := Time.Append(nil, utc), Time.Append(nil, paris); !bytes.Equal(a, b) {
		t.Errorf("one instant in two zones encodes as %x and %x", a, b)
	}
	if a, b := Bytes.Append(nil, nil), Bytes.Append(nil, []byte{}); !bytes.Equal(a, b) {
		t.Errorf("nil and empty bytes encode as %x and %x", a, b)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"bool byte 2", func() error { _, _, err := Bool.Decode([]byte{2}); return err }, "neither 0 nor 1"},
		{"int16 out of range", func() error { _, _, err := Int16.Decode(Int64.Append(nil, 1<<20)); return err }, "int16: 1048576 is out of range"},
		{"uint8 via uint16 range", func() error { _, _, err := Uint16.Decode(Uint64.Append(nil, 1<<16)); return err }, "out of range"},
		{"varint overflow", func() error { _, _, err := Uint64.Decode(bytes.Repeat([]byte{0xff}, 11)); return err }, "overflows"},
		{"string length past end", func() error { _, _, err := String.Decode([]byte{5, 'a'}); return err }, "length 5, 1 bytes left"},
		{"slice count past end", func() error { _, _, err := Slice(Int).Decode([]byte{0xff, 0xff, 0x03, 1}); return err }, "cannot fit"},
		{"json garbage", func() error { _, _, err := JSON[struct{ A int }]().Decode([]byte{3, '{', '{', '}'}); return err }, "decode json struct { A int }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type jsonItem struct{ Price float64 }

type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("no JSON for you") }

type jsonClick struct {
	User   string
	Score  float64
	Items  []jsonItem
	Skip   chan int `json:"-"`
	Maybe  *float64 `json:",omitempty"`
	hidden chan int
}

// TestJSONRejectsUnencodableValues checks that values encoding/json rejects
// are errors naming the type, the field and the problem, never panics: from
// TryAppend at once, from Decode of what Append wrote instead.
func TestJSONRejectsUnencodableValues(t *testing.T) {
	tests := []struct {
		name string
		try  func(dst []byte) ([]byte, error)
		want string
	}{
		{"NaN field", func(dst []byte) ([]byte, error) {
			return JSON[jsonClick]().(Fallible[jsonClick]).TryAppend(dst, jsonClick{User: "u", Score: math.NaN()})
		}, "codec.JSON[codec.jsonClick]: field Score: NaN cannot be encoded as JSON"},
		{"+Inf field", func(dst []byte) ([]byte, error) {
			return JSON[jsonClick]().(Fallible[jsonClick]).TryAppend(dst, jsonClick{Score: math.Inf(1)})
		}, "codec.JSON[codec.jsonClick]: field Score: +Inf cannot be encoded as JSON"},
		{"-Inf in a slice", func(dst []byte) ([]byte, error) {
			return JSON[jsonClick]().(Fallible[jsonClick]).TryAppend(dst, jsonClick{Items: []jsonItem{{1}, {math.Inf(-1)}}})
		}, "codec.JSON[codec.jsonClick]: field Items[1].Price: -Inf cannot be encoded as JSON"},
		{"NaN value", func(dst []byte) ([]byte, error) { return TryAppend(JSON[float64](), dst, math.NaN()) },
			"codec.JSON[float64]: NaN cannot be encoded as JSON"},
		{"NaN in a map", func(dst []byte) ([]byte, error) {
			return TryAppend(JSON[map[string]float64](), dst, map[string]float64{"a": 1, "b": math.NaN()})
		}, `codec.JSON[map[string]float64]: element ["b"]: NaN cannot be encoded as JSON`},
		{"channel", func(dst []byte) ([]byte, error) {
			return TryAppend(JSON[struct{ C chan int }](), dst, struct{ C chan int }{})
		}, "codec.JSON[struct { C chan int }]: field C: a chan int cannot be encoded as JSON"},
		{"failing MarshalJSON", func(dst []byte) ([]byte, error) {
			return TryAppend(JSON[struct{ M failingMarshaler }](), dst, struct{ M failingMarshaler }{})
		}, "field M: error calling MarshalJSON for type codec.failingMarshaler: no JSON for you"},
		{"slice of JSON", func(dst []byte) ([]byte, error) {
			return TryAppend(Slice(JSON[float64]()), dst, []float64{1, math.NaN()})
		}, "slice element 1 of 2: codec.JSON[float64]: NaN cannot be encoded as JSON"},
		{"pair with JSON", func(dst []byte) ([]byte, error) {
			return TryAppend(PairOf(String, JSON[float64]()), dst, Pair[string, float64]{"k", math.Inf(1)})
		}, "pair second: codec.JSON[float64]: +Inf cannot be encoded as JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{0xAA}
			got, err := tc.try(dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if !bytes.Equal(got, []byte{0xAA}) {
				t.Errorf("a failed TryAppend changed dst to %x", got)
			}
		})
	}
	var uv *json.UnsupportedValueError
	if _, err := TryAppend(JSON[float64](), nil, math.NaN()); !errors.As(err, &uv) {
		t.Errorf("the error %v does not wrap encoding/json's", err)
	}

	// Append cannot fail: it stores the error, Decode returns it, and what
	// follows the marker still decodes.
	c := JSON[jsonClick]()
	enc := c.Append(nil, jsonClick{Score: math.NaN()})
	enc = c.Append(enc, jsonClick{User: "next"})
	_, _, err := c.Decode(enc)
	if err == nil || !strings.Contains(err.Error(), "decode json codec.jsonClick") || !strings.Contains(err.Error(), "field Score: NaN cannot be encoded as JSON") {
		t.Fatalf("decode of an unencodable value: %v", err)
	}
	_, n, _ := lengthPrefixed(enc, "marker")
	if v, _, err := c.Decode(enc[n:]); err != nil || v.User != "next" {
		t.Errorf("value after the marker: %v, %v", v, err)
	}
	// Fallible only where a part is.
	if _, ok := Slice(String).(Fallible[[]string]); ok {
		t.Error("Slice(String) claims to be Fallible")
	}
	if _, ok := PairOf(String, Int).(Fallible[Pair[string, int]]); ok {
		t.Error("PairOf(String, Int) claims to be Fallible")
	}
}

func TestFor(t *testing.T) {
	check := func(name string, got any, err error, want any) {
		t.Helper()
		if err != nil {
			t.Fatalf("For[%s]: %v", name, err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(want) {
			t.Fatalf("For[%s] = %T, want %T", name, got, want)
		}
	}
	c1, err := For[string]()
	check("string", c1, err, String)
	c2, err := For[int64]()
	check("int64", c2, err, Int64)
	c3, err := For[time.Time]()
	check("time.Time", c3, err, Time)
	c4, err := For[[]byte]()
	check("[]byte", c4, err, Bytes)
	c5, err := For[[]string]()
	check("[]string", c5, err, Slice(String))
	c6, err := For[uint8]()
	check("uint8", c6, err, Uint8)

	type Order struct{ ID *int }
	if _, err := For[Order](); err == nil || !strings.Contains(err.Error(), "no codec for codec.Order field ID of type *int: pointers are not supported; give one with codec.JSON[codec.Order]()") {
		t.Fatalf("For[Order] error = %v", err)
	}
	// Plain-data structs and named types get a derived codec (derive_test.go).
	type UserID string
	c7, err := For[UserID]()
	check("UserID", c7, err, derivedCodec[UserID]{})
	if _, err := For[error](); err == nil || !strings.Contains(err.Error(), "error") {
		t.Fatalf("For[error] error = %v", err)
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	p := Pair[string, int64]{"key", 42}
	pc := PairOf(String, Int64)
	s := []int64{1, 2, 3}
	sc := Slice(Int64)
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		b := String.Append(buf[:0], "hello")
		b = Int64.Append(b, -12345)
		b = Uint32.Append(b, 7)
		b = Float64.Append(b, 3.5)
		b = Bool.Append(b, true)
		b = Time.Append(b, now)
		b = pc.Append(b, p)
		b = sc.Append(b, s)
		buf = b
	})
	if allocs != 0 {
		t.Fatalf("Append allocated %.1f times per run", allocs)
	}
}

// FuzzDecode feeds garbage to every codec: none may panic, and a decode that
// succeeds must re-encode to a value that decodes the same.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{3, 'a', 'b', 'c'})
	f.Add(bytes.Repeat([]byte{0xff}, 12))
	f.Add(Slice(String).Append(nil, []string{"a", "b"}))
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzOne(t, String, src)
		fuzzOne(t, Bytes, src)
		fuzzOne(t, Bool, src)
		fuzzOne(t, Int, src)
		fuzzOne(t, Int8, src)
		fuzzOne(t, Int16, src)
		fuzzOne(t, Int32, src)
		fuzzOne(t, Int64, src)
		fuzzOne(t, Uint, src)
		fuzzOne(t, Uint8, src)
		fuzzOne(t, Uint16, src)
		fuzzOne(t, Uint32, src)
		fuzzOne(t, Uint64, src)
		fuzzOne(t, Float32, src)
		fuzzOne(t, Float64, src)
		fuzzOne(t, Time, src)
		fuzzOne(t, Slice(String), src)
		fuzzOne(t, Slice(Slice(Uint8)), src)
		fuzzOne(t, PairOf(Int64, Bytes), src)
		fuzzOne(t, JSON[map[string]int](), src)
	})
}

func fuzzOne[T any](t *testing.T, c Codec[T], src []byte) {
	v, n, err := c.Decode(src)
	if err != nil {
		return
	}
	if n < 0 || n > len(src) {
		t.Fatalf("%T consumed %d of %d bytes", c, n, len(src))
	}
	v2, _, err := c.Decode(c.Append(nil, v))
	if err != nil {
		t.Fatalf("%T: re-encoding of a decoded value does not decode: %v", c, err)
	}
	if enc1, enc2 := c.Append(nil, v), c.Append(nil, v2); !bytes.Equal(enc1, enc2) {
		t.Fatalf("%T: decode(encode(v)) encodes differently: %x vs %x", c, enc1, enc2)
	}
}

func BenchmarkAppend(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.Run("Int64", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			buf = Int64.Append(buf[:0], int64(i))
		}
	})
	b.Run("String", func(b *testing.B) {
		for b.Loop() {
			buf = String.Append(buf[:0], "user-123456")
		}
	})
	pc := PairOf(String, Int64)
	b.Run("Pair", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			buf = pc.Append(buf[:0], Pair[string, int64]{"user-123456", int64(i)})
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	i64 := Int64.Append(nil, 1234567)
	b.Run("Int64", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Int64.Decode(i64); err != nil {
				b.Fatal(err)
			}
		}
	})
	s := String.Append(nil, "user-123456")
	b.Run("String", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := String.Decode(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	type rec struct {
		User  string
		Count int
	}
	jc := JSON[rec]()
	j := jc.Append(nil, rec{"u", 3})
	b.Run("JSON", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := jc.Decode(j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
