package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// Shapes of user records, as the engine's API produces them.

type transfer struct{ Account, Amount, Seq int64 }

type keyValue struct {
	Key   string
	Value float64
}

type kv[K, V any] struct {
	Key   K
	Value V
}

type click struct {
	User string
	Time int64
	Page string
}

type windowResult[K, V any] struct {
	Key    K
	Window struct{ Start, End int64 }
	Value  V
}

type userID string

type celsius float64

type path []string

type stamp time.Time

type allScalars struct {
	B   bool
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	F32 float32
	F64 float64
	S   string
	Bs  []byte
	T   time.Time
}

type point struct{ X, Y int32 }

type line struct {
	Name   string
	Points []point
	Tags   [][]string
}

type withArrays struct {
	ID     [16]byte
	Small  [3]int16
	Corner [2]point
	None   [0]string
	Names  [2]string
}

type withUnexported struct {
	Public  string
	private int64
	inner   struct{ a, b string }
}

type withBlank struct {
	A int
	_ int32
	B string
}

type embedded struct {
	point
	Label userID
}

type tree struct {
	Name string
	Kids []tree
}

type withTime struct {
	At    time.Time
	Alias stamp
	Span  time.Duration
}

type empty struct{}

type withEmpty struct {
	E empty
	N int
	F struct{}
}

func deepEqual[T any](a, b T) bool { return reflect.DeepEqual(a, b) }

func mustDerive[T any](t *testing.T) Codec[T] {
	t.Helper()
	c, err := For[T]()
	if err != nil {
		t.Fatalf("For[%s]: %v", reflect.TypeFor[T](), err)
	}
	if _, ok := c.(derivedCodec[T]); !ok {
		t.Fatalf("For[%s] = %T, want a derived codec", reflect.TypeFor[T](), c)
	}
	return c
}

// Every strict prefix of every encoding must be ErrShort (checkRoundTrip).
func TestDerivedRoundTrip(t *testing.T) {
	ts := time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"transfer", func(t *testing.T) {
			checkRoundTrip(t, "transfer", mustDerive[transfer](t), []transfer{{}, {1, -2, 3}, {math.MaxInt64, math.MinInt64, 0}}, same)
		}},
		{"keyValue", func(t *testing.T) {
			checkRoundTrip(t, "keyValue", mustDerive[keyValue](t), []keyValue{{}, {"k", 1.5}, {strings.Repeat("k", 200), math.Inf(-1)}}, same)
		}},
		{"kv[string,int64]", func(t *testing.T) {
			checkRoundTrip(t, "kv", mustDerive[kv[string, int64]](t), []kv[string, int64]{{}, {"a", -1}}, same)
		}},
		{"kv[point,kv[userID,[]float32]]", func(t *testing.T) {
			checkRoundTrip(t, "kv nested", mustDerive[kv[point, kv[userID, []float32]]](t),
				[]kv[point, kv[userID, []float32]]{{}, {point{1, -1}, kv[userID, []float32]{"u", []float32{1, 2.5}}}}, deepEqual)
		}},
		{"click", func(t *testing.T) {
			checkRoundTrip(t, "click", mustDerive[click](t), []click{{}, {"user-1", 1700000000000, "/home"}}, same)
		}},
		{"windowResult[string,float64]", func(t *testing.T) {
			w := windowResult[string, float64]{Key: "k", Value: 2.5}
			w.Window.Start, w.Window.End = 1000, 2000
			checkRoundTrip(t, "windowResult", mustDerive[windowResult[string, float64]](t), []windowResult[string, float64]{{}, w}, same)
		}},
		{"windowResult[kv[string,int],[]click]", func(t *testing.T) {
			w := windowResult[kv[string, int], []click]{Key: kv[string, int]{"a", 3}, Value: []click{{"u", 1, "p"}, {}}}
			w.Window.End = -5
			checkRoundTrip(t, "windowResult", mustDerive[windowResult[kv[string, int], []click]](t), []windowResult[kv[string, int], []click]{{}, w}, deepEqual)
		}},
		{"allScalars", func(t *testing.T) {
			// Not the zero time.Time: Time covers 1678 to 2262 only.
			checkRoundTrip(t, "allScalars", mustDerive[allScalars](t), []allScalars{{T: time.Unix(0, 0).UTC()}, {
				B: true, I: math.MinInt, I8: math.MinInt8, I16: math.MaxInt16, I32: math.MinInt32, I64: math.MaxInt64,
				U: math.MaxUint, U8: math.MaxUint8, U16: math.MaxUint16, U32: math.MaxUint32, U64: math.MaxUint64,
				F32: math.SmallestNonzeroFloat32, F64: -math.MaxFloat64, S: "\x00\xff", Bs: []byte{0, 1, 2}, T: ts,
			}}, deepEqual)
		}},
		{"slices of structs", func(t *testing.T) {
			checkRoundTrip(t, "line", mustDerive[line](t), []line{{}, {Name: "l", Points: []point{{1, 2}, {3, 4}}, Tags: [][]string{nil, {"a", ""}}}}, deepEqual)
			checkRoundTrip(t, "[]line", mustDerive[[]line](t), [][]line{nil, {{}, {Points: []point{{}}}}}, deepEqual)
		}},
		{"arrays", func(t *testing.T) {
			w := withArrays{ID: [16]byte{0: 1, 15: 0xff}, Small: [3]int16{-1, 0, 1}, Corner: [2]point{{1, 2}, {-3, -4}}, Names: [2]string{"a", ""}}
			checkRoundTrip(t, "withArrays", mustDerive[withArrays](t), []withArrays{{}, w}, same)
			checkRoundTrip(t, "[4]string", mustDerive[[4]string](t), [][4]string{{}, {"a", "b", "c", "d"}}, same)
		}},
		{"unexported fields", func(t *testing.T) {
			w := withUnexported{Public: "p", private: -7}
			w.inner.a, w.inner.b = "x", "yz"
			checkRoundTrip(t, "withUnexported", mustDerive[withUnexported](t), []withUnexported{{}, w}, same)
		}},
		{"blank field", func(t *testing.T) {
			checkRoundTrip(t, "withBlank", mustDerive[withBlank](t), []withBlank{{}, {A: 1, B: "b"}}, same)
		}},
		{"embedded", func(t *testing.T) {
			checkRoundTrip(t, "embedded", mustDerive[embedded](t), []embedded{{}, {point{5, 6}, "u"}}, same)
		}},
		{"named types", func(t *testing.T) {
			checkRoundTrip(t, "userID", mustDerive[userID](t), []userID{"", "u-1"}, same)
			checkRoundTrip(t, "celsius", mustDerive[celsius](t), []celsius{0, -40}, same)
			checkRoundTrip(t, "path", mustDerive[path](t), []path{nil, {"a", "b"}}, deepEqual)
			checkRoundTrip(t, "[]userID", mustDerive[[]userID](t), [][]userID{nil, {"a"}}, deepEqual)
			checkRoundTrip(t, "[]int32", mustDerive[[]int32](t), [][]int32{nil, {math.MinInt32, 0}}, deepEqual)
		}},
		{"time", func(t *testing.T) {
			checkRoundTrip(t, "withTime", mustDerive[withTime](t), []withTime{
				{At: time.Unix(0, 0).UTC(), Alias: stamp(time.Unix(0, 0).UTC())},
				{At: ts, Alias: stamp(ts.Add(time.Hour)), Span: -time.Minute},
			}, deepEqual)
		}},
		{"empty", func(t *testing.T) {
			checkRoundTrip(t, "empty", mustDerive[empty](t), []empty{{}}, same)
			checkRoundTrip(t, "withEmpty", mustDerive[withEmpty](t), []withEmpty{{}, {N: 3}}, same)
			if b := mustDerive[empty](t).Append(nil, empty{}); len(b) != 0 {
				t.Fatalf("empty struct encodes as %x", b)
			}
		}},
		{"recursive", func(t *testing.T) {
			tr := tree{"root", []tree{{"a", nil}, {"b", []tree{{"c", nil}}}}}
			checkRoundTrip(t, "tree", mustDerive[tree](t), []tree{{}, tr}, deepEqual)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// Equal values must encode alike: keys are hashed by their bytes.
func TestDerivedCanonical(t *testing.T) {
	kvc := mustDerive[keyValue](t)
	if a, b := kvc.Append(nil, keyValue{"k", 0}), kvc.Append(nil, keyValue{"k", math.Copysign(0, -1)}); !bytes.Equal(a, b) {
		t.Errorf("+0 and -0 fields encode as %x and %x", a, b)
	}
	if a, b := kvc.Append(nil, keyValue{"k", math.NaN()}), kvc.Append(nil, keyValue{"k", math.Float64frombits(0xfff0000000000001)}); !bytes.Equal(a, b) {
		t.Errorf("two NaN fields encode as %x and %x", a, b)
	}
	type f32 struct{ F float32 }
	fc := mustDerive[f32](t)
	if a, b := fc.Append(nil, f32{0}), fc.Append(nil, f32{float32(math.Copysign(0, -1))}); !bytes.Equal(a, b) {
		t.Errorf("float32 +0 and -0 fields encode as %x and %x", a, b)
	}
	// A field encodes as the built-in codec of its type.
	for _, f := range []float64{0, math.Copysign(0, -1), math.NaN(), 1.5} {
		if a, b := kvc.Append(nil, keyValue{"k", f}), Float64.Append(String.Append(nil, "k"), f); !bytes.Equal(a, b) {
			t.Errorf("keyValue{k, %v} encodes as %x, the built-in codecs as %x", f, a, b)
		}
	}
	if a, b := mustDerive[kv[string, int64]](t).Append(nil, kv[string, int64]{"u", -5}), PairOf(String, Int64).Append(nil, Pair[string, int64]{"u", -5}); !bytes.Equal(a, b) {
		t.Errorf("kv and Pair encode as %x and %x", a, b)
	}
	if a, b := mustDerive[userID](t).Append(nil, "u-1"), String.Append(nil, "u-1"); !bytes.Equal(a, b) {
		t.Errorf("userID and string encode as %x and %x", a, b)
	}
	if a, b := mustDerive[[]int32](t).Append(nil, []int32{1, -1}), Slice(Int32).Append(nil, []int32{1, -1}); !bytes.Equal(a, b) {
		t.Errorf("derived and built-in []int32 encode as %x and %x", a, b)
	}
	utc := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	wt := mustDerive[withTime](t)
	if a, b := wt.Append(nil, withTime{At: utc}), wt.Append(nil, withTime{At: utc.In(time.FixedZone("CET", 3600))}); !bytes.Equal(a, b) {
		t.Errorf("one instant in two zones encodes as %x and %x", a, b)
	}
	lc := mustDerive[line](t)
	if a, b := lc.Append(nil, line{Points: nil, Tags: [][]string{nil}}), lc.Append(nil, line{Points: []point{}, Tags: [][]string{{}}}); !bytes.Equal(a, b) {
		t.Errorf("nil and empty slices encode as %x and %x", a, b)
	}
	// == ignores blank fields, so must the encoding.
	wb1, wb2 := withBlank{A: 1, B: "b"}, withBlank{A: 1, B: "b"}
	*(*int32)(unsafe.Add(unsafe.Pointer(&wb2), unsafe.Offsetof(wb2.A)+unsafe.Sizeof(wb2.A))) = 99
	wbc := mustDerive[withBlank](t)
	if wb1 != wb2 {
		t.Fatal("test setup: values differ")
	}
	if a, b := wbc.Append(nil, wb1), wbc.Append(nil, wb2); !bytes.Equal(a, b) {
		t.Errorf("values differing in a blank field encode as %x and %x", a, b)
	}
}

// The format is fixed: the same value has these bytes in every process and
// every release. A change here breaks savepoints and mixed-version shuffles.
func TestDerivedGoldenBytes(t *testing.T) {
	w := windowResult[string, []point]{Key: "ab", Value: []point{{1, -1}}}
	w.Window.Start, w.Window.End = 1, -2
	got := hex.EncodeToString(mustDerive[windowResult[string, []point]](t).Append(nil, w))
	// "ab" | Start 1 | End -2 | 1 element | X 1 | Y -1
	if want := "02616202030102" + "01"; got != want {
		t.Fatalf("encoding %s, want %s", got, want)
	}
	a := allScalars{B: true, I: -1, I8: -1, I16: 2, I32: -3, I64: 4, U: 5, U8: 6, U16: 7, U32: 8, U64: 300,
		F32: 1, F64: -2, S: "s", Bs: []byte{9}, T: time.Unix(0, 1).UTC()}
	got = hex.EncodeToString(mustDerive[allScalars](t).Append(nil, a))
	want := "01" + "01" + "ff" + "04" + "05" + "08" + "05" + "06" + "07" + "08" + "ac02" +
		"0000803f" + "00000000000000c0" + "0173" + "0109" + "02"
	if got != want {
		t.Fatalf("encoding\n %s, want\n %s", got, want)
	}
}

func TestDerivedErrors(t *testing.T) {
	type order struct {
		ID    int
		Items []struct {
			SKU  string
			Note *string
		}
	}
	type withMap struct {
		A int
		M map[string]int
	}
	type withIface struct{ V any }
	type withChan struct{ C chan int }
	type withFunc struct{ F func() }
	type withComplex struct{ C complex128 }
	type withUintptr struct{ P uintptr }
	type withUnsafe struct{ P unsafe.Pointer }
	type nested struct{ Inner struct{ Arr [2]*int } }
	type emptyElems struct{ E []struct{} }
	type zeroArrays struct{ Z [][0]int }
	tests := []struct {
		name string
		for_ func() error
		want string
	}{
		{"pointer in slice element", func() error { _, err := For[order](); return err },
			"codec: no codec for codec.order field Items[].Note of type *string: pointers are not supported; give one with codec.JSON[codec.order]() or your own codec.Codec"},
		{"map", func() error { _, err := For[withMap](); return err }, "codec.withMap field M of type map[string]int: maps are not supported"},
		{"interface", func() error { _, err := For[withIface](); return err }, "field V of type interface {}: interfaces are not supported"},
		{"chan", func() error { _, err := For[withChan](); return err }, "field C of type chan int: chan values cannot be encoded"},
		{"func", func() error { _, err := For[withFunc](); return err }, "field F of type func(): func values cannot be encoded"},
		{"complex", func() error { _, err := For[withComplex](); return err }, "complex numbers are not supported"},
		{"uintptr", func() error { _, err := For[withUintptr](); return err }, "field P of type uintptr: uintptr values cannot be encoded"},
		{"unsafe.Pointer", func() error { _, err := For[withUnsafe](); return err }, "field P of type unsafe.Pointer"},
		{"pointer in array in struct", func() error { _, err := For[nested](); return err }, "codec.nested field Inner.Arr[] of type *int"},
		{"top-level pointer", func() error { _, err := For[*transfer](); return err },
			"codec: no codec for *codec.transfer: pointers are not supported; give one with codec.JSON[*codec.transfer]()"},
		{"top-level slice of pointers", func() error { _, err := For[[]*transfer](); return err }, "no codec for []*codec.transfer element [] of type *codec.transfer"},
		{"error", func() error { _, err := For[error](); return err }, "no codec for error: interfaces are not supported"},
		{"slice of empty structs", func() error { _, err := For[emptyElems](); return err },
			"codec: no codec for codec.emptyElems: field E, a slice of struct {} would encode each element as no bytes"},
		{"slice of empty arrays", func() error { _, err := For[zeroArrays](); return err }, "field Z, a slice of [0]int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.for_()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			// Errors are cached with the plans; asking again gives the same.
			if again := tt.for_(); again == nil || again.Error() != err.Error() {
				t.Fatalf("second call: %v", again)
			}
		})
	}
}

func TestDerivedDecodeRejects(t *testing.T) {
	lc := mustDerive[line](t)
	good := lc.Append(nil, line{Name: "n", Points: []point{{1, 2}, {3, 4}}})
	bad := bytes.Clone(good)
	bad[len(bad)-3] = 0xff // the second point's X becomes an unterminated varint
	bad = bad[:len(bad)-1]
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"bool byte 2", func() error { _, _, err := mustDerive[allScalars](t).Decode([]byte{2}); return err }, "decode codec.allScalars at B: decode bool: byte 0x02"},
		{"int16 out of range", func() error {
			_, _, err := mustDerive[withArrays](t).Decode(append(make([]byte, 16), Int64.Append(nil, 1<<20)...))
			return err
		}, "decode codec.withArrays at Small[0]: decode int16: 1048576 is out of range"},
		{"short in nested element", func() error { _, _, err := lc.Decode(bad); return err }, "decode codec.line at Points[1].Y: decode int32"},
		{"slice count past end", func() error { _, _, err := lc.Decode([]byte{0, 0xff, 0xff, 0x03, 1}); return err }, "at Points: decode slice: 65535 elements cannot fit in 1 bytes"},
		{"varint overflow", func() error { _, _, err := mustDerive[transfer](t).Decode(bytes.Repeat([]byte{0xff}, 11)); return err }, "at Account: decode int64: varint overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, _, err := lc.Decode(bad); !errors.Is(err, ErrShort) {
		t.Fatalf("truncated element: got %v, want ErrShort", err)
	}
	// Garbage for a recursive type nests one level per byte; it must stop.
	deep := bytes.Repeat([]byte{0, 1}, 5000)
	if _, _, err := mustDerive[tree](t).Decode(deep); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("deep tree: got %v", err)
	}
}

// Slices of pointer-holding elements are allocated with their type's pointer
// layout: the collector must keep what they point to.
func TestDerivedSlicesSurviveGC(t *testing.T) {
	lc := mustDerive[[]line](t)
	var want []line
	for i := range 50 {
		want = append(want, line{Name: strings.Repeat("n", i+1), Tags: [][]string{{strings.Repeat("t", i+2)}}})
	}
	enc := lc.Append(nil, want)
	got, _, err := lc.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	clear(enc)
	for range 3 {
		runtime.GC()
		_ = make([]byte, 1<<20) // reuse freed memory if anything was wrongly freed
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("decoded slices changed after collection")
	}
}

func TestDerivedAllocations(t *testing.T) {
	buf := make([]byte, 0, 256)
	tc := mustDerive[transfer](t)
	wc := mustDerive[withArrays](t)
	cc := mustDerive[click](t)
	lc := mustDerive[line](t)
	tr := transfer{1, 2, 3}
	wa := withArrays{Small: [3]int16{1, 2, 3}, Names: [2]string{"a", "b"}}
	cl := click{"user-1", 17, "/p"}
	ln := line{Name: "line-1", Points: []point{{1, 2}}, Tags: [][]string{{"tag-1"}}}
	if n := testing.AllocsPerRun(100, func() {
		b := tc.Append(buf[:0], tr)
		b = wc.Append(b, wa)
		b = cc.Append(b, cl)
		buf = lc.Append(b, ln)
	}); n != 0 {
		t.Errorf("Append allocated %.1f times per run", n)
	}
	enc := tc.Append(nil, tr)
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := tc.Decode(enc); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Decode of a pointer-free struct allocated %.1f times per run", n)
	}
	enc = cc.Append(nil, cl)
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := cc.Decode(enc); err != nil {
			t.Fatal(err)
		}
	}); n != 2 {
		t.Errorf("Decode of a struct with two strings allocated %.1f times per run, want 2", n)
	}
	enc = lc.Append(nil, ln) // Name, Points, Tags, Tags[0], Tags[0][0]
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := lc.Decode(enc); err != nil {
			t.Fatal(err)
		}
	}); n != 5 {
		t.Errorf("Decode of a line allocated %.1f times per run, want 5", n)
	}
}

// FuzzDerivedDecode feeds garbage to derived codecs: none may panic, and a
// decode that succeeds must re-encode stably.
func FuzzDerivedDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add(bytes.Repeat([]byte{0xff}, 12))
	f.Add(mustDeriveF[line](f).Append(nil, line{Name: "l", Points: []point{{1, 2}}, Tags: [][]string{{"a"}, nil}}))
	f.Add(mustDeriveF[tree](f).Append(nil, tree{"r", []tree{{"a", []tree{{}}}}}))
	f.Add(mustDeriveF[allScalars](f).Append(nil, allScalars{B: true, S: "s", F64: math.NaN()}))
	transferC, clickC, lineC, treeC := mustDeriveF[transfer](f), mustDeriveF[click](f), mustDeriveF[line](f), mustDeriveF[tree](f)
	arraysC, scalarsC, wrC := mustDeriveF[withArrays](f), mustDeriveF[allScalars](f), mustDeriveF[windowResult[kv[string, int], []click]](f)
	timeC, unexpC := mustDeriveF[withTime](f), mustDeriveF[withUnexported](f)
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzOne(t, transferC, src)
		fuzzOne(t, clickC, src)
		fuzzOne(t, lineC, src)
		fuzzOne(t, treeC, src)
		fuzzOne(t, arraysC, src)
		fuzzOne(t, scalarsC, src)
		fuzzOne(t, wrC, src)
		fuzzOne(t, timeC, src)
		fuzzOne(t, unexpC, src)
	})
}

func mustDeriveF[T any](f *testing.F) Codec[T] {
	c, err := For[T]()
	if err != nil {
		f.Fatal(err)
	}
	return c
}

// BenchmarkDerived compares a derived codec with JSON on typical records.
func BenchmarkDerived(b *testing.B) {
	benchCodecs(b, "click", click{"user-123456", 1700000000123, "/products/42"})
	benchCodecs(b, "transfer", transfer{1234567, -9900, 42})
	w := windowResult[string, float64]{Key: "user-123456", Value: 17.25}
	w.Window.Start, w.Window.End = 1700000000000, 1700000060000
	benchCodecs(b, "windowResult", w)
}

func benchCodecs[T any](b *testing.B, name string, v T) {
	for _, c := range []struct {
		name string
		c    Codec[T]
	}{{"derived", MustFor[T]()}, {"json", JSON[T]()}} {
		buf := make([]byte, 0, 256)
		b.Run(name+"/"+c.name+"/append", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = c.c.Append(buf[:0], v)
			}
		})
		enc := c.c.Append(nil, v)
		b.Run(name+"/"+c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.c.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "bytes/record")
		})
	}
}
