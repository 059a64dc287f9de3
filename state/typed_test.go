package state

import (
	"maps"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/codec"
)

var all128 = KeyGroupRange{Start: 0, End: 128}

// step is one operation of a table test: set the key, act, check.
type step struct {
	key  string
	do   string // operation, interpreted by each state kind's test
	arg  int64
	want any
}

func TestValueState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		b := mk(t, all128, 128)
		kc := NewKeyContext(codec.String, 128)
		s := must1[ValueState[int64]](t)(NewValue(b, kc, "op/count", codec.Int64))
		steps := []step{
			{"a", "get", 0, "absent"},
			{"a", "update", 5, nil},
			{"a", "get", 0, int64(5)},
			{"b", "get", 0, "absent"},
			{"b", "update", -7, nil},
			{"a", "update", 6, nil},
			{"a", "get", 0, int64(6)},
			{"b", "get", 0, int64(-7)},
			{"a", "clear", 0, nil},
			{"a", "get", 0, "absent"},
			{"b", "get", 0, int64(-7)},
			{"", "update", 0, nil},
			{"", "get", 0, int64(0)},
		}
		for i, st := range steps {
			kc.SetKey(st.key)
			switch st.do {
			case "get":
				v, ok, err := s.Value()
				must(t, err)
				var got any = "absent"
				if ok {
					got = v
				}
				if got != st.want {
					t.Fatalf("step %d key %q: got %v, want %v", i, st.key, got, st.want)
				}
			case "update":
				must(t, s.Update(st.arg))
			case "clear":
				must(t, s.Clear())
			}
		}
	})
}

func TestListState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		b := mk(t, all128, 128)
		kc := NewKeyContext(codec.Int64, 128)
		s := must1[ListState[string]](t)(NewList(b, kc, "op/events", codec.String))
		tests := []struct {
			key  int64
			do   string
			arg  []string
			want []string
		}{
			{1, "get", nil, nil},
			{1, "add", []string{"x"}, []string{"x"}},
			{1, "add", []string{"y"}, []string{"x", "y"}},
			{2, "add", []string{""}, []string{""}},
			{1, "update", []string{"p", "q", "r"}, []string{"p", "q", "r"}},
			{1, "add", []string{"s"}, []string{"p", "q", "r", "s"}},
			{2, "get", nil, []string{""}},
			{1, "update", nil, nil},
			{1, "add", []string{"t"}, []string{"t"}},
			{1, "clear", nil, nil},
			{2, "clear", nil, nil},
		}
		for i, tt := range tests {
			kc.SetKey(tt.key)
			switch tt.do {
			case "add":
				must(t, s.Add(tt.arg[0]))
			case "update":
				must(t, s.Update(tt.arg))
			case "clear":
				must(t, s.Clear())
			}
			got := must1[[]string](t)(s.Get())
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("step %d key %d after %s: got %q, want %q", i, tt.key, tt.do, got, tt.want)
			}
		}
		// The caller owns what Get returns.
		kc.SetKey(9)
		must(t, s.Update([]string{"a", "b"}))
		got := must1[[]string](t)(s.Get())
		got[0] = "changed"
		if again := must1[[]string](t)(s.Get()); again[0] != "a" {
			t.Fatalf("modifying Get's result changed the state: %q", again)
		}
	})
}

func TestMapState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		b := mk(t, all128, 128)
		kc := NewKeyContext(codec.String, 128)
		s := must1[MapState[string, float64]](t)(NewMap(b, kc, "op/prices", codec.String, codec.Float64))
		contents := func() map[string]float64 {
			m := map[string]float64{}
			must(t, s.Range(func(k string, v float64) error { m[k] = v; return nil }))
			return m
		}
		tests := []struct {
			key, do, uk string
			uv          float64
			want        map[string]float64
		}{
			{"u1", "none", "", 0, map[string]float64{}},
			{"u1", "put", "apple", 1.5, map[string]float64{"apple": 1.5}},
			{"u1", "put", "pear", 2, map[string]float64{"apple": 1.5, "pear": 2}},
			{"u1", "put", "apple", 3, map[string]float64{"apple": 3, "pear": 2}},
			{"u2", "put", "apple", 9, map[string]float64{"apple": 9}},
			{"u1", "remove", "apple", 0, map[string]float64{"pear": 2}},
			{"u1", "remove", "missing", 0, map[string]float64{"pear": 2}},
			{"u1", "remove", "pear", 0, map[string]float64{}},
			{"u2", "put", "", -1, map[string]float64{"apple": 9, "": -1}},
			{"u2", "clear", "", 0, map[string]float64{}},
		}
		for i, tt := range tests {
			kc.SetKey(tt.key)
			switch tt.do {
			case "put":
				must(t, s.Put(tt.uk, tt.uv))
			case "remove":
				must(t, s.Remove(tt.uk))
			case "clear":
				must(t, s.Clear())
			}
			if got := contents(); !maps.Equal(got, tt.want) {
				t.Fatalf("step %d key %q after %s %q: got %v, want %v", i, tt.key, tt.do, tt.uk, got, tt.want)
			}
			empty := must1[bool](t)(s.IsEmpty())
			if empty != (len(tt.want) == 0) {
				t.Fatalf("step %d: IsEmpty = %v with contents %v", i, empty, tt.want)
			}
			for uk, uv := range tt.want {
				got, ok, err := s.Get(uk)
				if err != nil || !ok || got != uv {
					t.Fatalf("step %d: Get(%q) = %v, %v, %v; want %v", i, uk, got, ok, err, uv)
				}
			}
		}
		kc.SetKey("u3")
		must(t, s.Put("x", 1))
		stop := errFake("stop")
		if err := s.Range(func(string, float64) error { return stop }); err != stop {
			t.Fatalf("Range returned %v, want fn's error", err)
		}
	})
}

type errFake string

func (e errFake) Error() string { return string(e) }

func TestRegistrationErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		b := mk(t, all128, 128)
		kc := NewKeyContext(codec.String, 128)
		v1 := must1[ValueState[int64]](t)(NewValue(b, kc, "op/s", codec.Int64))
		v2 := must1[ValueState[int64]](t)(NewValue(b, kc, "op/s", codec.Int64))
		if v1 != v2 {
			t.Fatalf("registering the same value state twice gave two states")
		}
		tests := []struct {
			name string
			err  func() error
			want string
		}{
			{"other kind", func() error { _, err := NewList(b, kc, "op/s", codec.Int64); return err }, `register state "op/s" as list state: it is already registered as value state`},
			{"other value type", func() error { _, err := NewValue(b, kc, "op/s", codec.String); return err }, "other value types"},
			{"other key context", func() error { _, err := NewValue(b, NewKeyContext(codec.String, 128), "op/s", codec.Int64); return err }, "another key context"},
			{"timers under a value's name", func() error { _, err := NewTimers(b, kc, "op/s"); return err }, "as timers: it is already registered as value state"},
			{"max parallelism", func() error {
				_, err := NewMap(b, NewKeyContext(codec.String, 256), "op/m", codec.String, codec.Int)
				return err
			}, "max parallelism 256, backend 128"},
			{"empty name", func() error { _, err := NewValue(b, kc, "", codec.Int); return err }, "empty state name"},
		}
		for _, tt := range tests {
			if err := tt.err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
			}
		}
	})
}

func TestAccessErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		b := mk(t, KeyGroupRange{Start: 0, End: 64}, 128)
		kc := NewKeyContext(codec.Int64, 128)
		s := must1[ValueState[int64]](t)(NewValue(b, kc, "op/v", codec.Int64))
		if err := s.Update(1); err == nil || !strings.Contains(err.Error(), "no current key") {
			t.Fatalf("Update before SetKey: %v", err)
		}
		var outside int64
		for kc.SetKey(outside); kc.KeyGroup() < 64; kc.SetKey(outside) {
			outside++
		}
		err := s.Update(1)
		if err == nil || !strings.Contains(err.Error(), "outside this subtask's key groups [0,64)") || !strings.Contains(err.Error(), `"op/v"`) {
			t.Fatalf("Update of key %d in key group %d: %v", outside, kc.KeyGroup(), err)
		}
	})
}

// rawString encodes a string as its bytes with no length, so that one key's
// encoding can be a prefix of another's; only the store key's length prefix
// keeps their entries apart.
type rawString struct{}

func (rawString) Append(dst []byte, v string) []byte { return append(dst, v...) }
func (rawString) Decode(src []byte) (string, int, error) {
	return string(src), len(src), nil
}

// LSM entries of a key must not show up under a key whose encoding is a
// prefix of its encoding.
func TestLSMKeyPrefixes(t *testing.T) {
	b := newTestLSM(t, KeyGroupRange{Start: 0, End: 1}, 1)
	kc := NewKeyContext[string](rawString{}, 1)
	l := must1[ListState[int]](t)(NewList(b, kc, "op/l", codec.Int))
	m := must1[MapState[string, int]](t)(NewMap(b, kc, "op/m", codec.String, codec.Int))
	kc.SetKey("ab")
	must(t, l.Add(1))
	must(t, m.Put("x", 1))
	kc.SetKey("a")
	if got := must1[[]int](t)(l.Get()); got != nil {
		t.Fatalf("key a sees list %v of key ab", got)
	}
	if empty := must1[bool](t)(m.IsEmpty()); !empty {
		t.Fatal("key a sees the map of key ab")
	}
	kc.SetKey("ab")
	if got := must1[[]int](t)(l.Get()); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("key ab list = %v", got)
	}
}

func TestNewLSMRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	b := must1[Backend](t)(NewLSM(dir, all128, 128))
	defer b.Close()
	if _, err := NewLSM(dir, all128, 128); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("second NewLSM in %s: %v", dir, err)
	}
}

// TestUnencodableStateValue: a value its codec cannot encode (a NaN in a
// JSON-coded struct) is an error naming the state, never a panic: at the
// write in the LSM backend, at the snapshot in the heap backend (which
// keeps values as they are).
func TestUnencodableStateValue(t *testing.T) {
	type reading struct{ Celsius float64 }
	nan := reading{Celsius: math.NaN()}
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		b := mk(t, all128, 128)
		kc := NewKeyContext(codec.String, 128)
		vs := must1[ValueState[reading]](t)(NewValue(b, kc, "op/last", codec.JSON[reading]()))
		ls := must1[ListState[reading]](t)(NewList(b, kc, "op/all", codec.JSON[reading]()))
		ms := must1[MapState[string, reading]](t)(NewMap(b, kc, "op/by", codec.String, codec.JSON[reading]()))
		kc.SetKey("sensor-1")
		errs := []error{vs.Update(nan), ls.Add(nan), ls.Update([]reading{nan}), ms.Put("x", nan)}
		if _, heap := b.(*heapBackend); heap {
			for _, err := range errs {
				must(t, err)
			}
			var snap memSnapshot
			errs = []error{b.Snapshot(&snap)}
		}
		for i, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), "op/") {
				t.Errorf("write %d: %v, want an error naming the state and the NaN", i, err)
			}
		}
	})
}
