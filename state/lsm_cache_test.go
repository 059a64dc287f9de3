package state

import (
	"fmt"
	"testing"

	"github.com/loom-yarn/loom/codec"
)

// withCacheEntries lowers the LSM write-back cache bound for one test.
func withCacheEntries(t *testing.T, n int) {
	old := lsmCacheEntries
	lsmCacheEntries = n
	t.Cleanup(func() { lsmCacheEntries = old })
}

// TestMetamorphicSmallCache reruns the heap-vs-LSM comparison with caches of
// a few entries, alone and with small batches, so that evictions (and
// commits) land between every kind of operation, snapshot and restore.
func TestMetamorphicSmallCache(t *testing.T) {
	for _, entries := range []int{1, 2, 5, 17} {
		for _, flush := range []int{1, 300, 4 << 20} {
			t.Run(fmt.Sprintf("cache%d/flush%d", entries, flush), func(t *testing.T) {
				withCacheEntries(t, entries)
				withFlushSize(t, flush)
				for seed := uint64(11); seed <= 12; seed++ {
					metamorphic(t, seed, 3000)
				}
			})
		}
	}
}

// TestLSMCacheBounded checks that the caches stay within lsmCacheEntries and
// that values read the same whether cached, written back or evicted.
func TestLSMCacheBounded(t *testing.T) {
	const bound = 8
	withCacheEntries(t, bound)
	b := newTestLSM(t, all128, 128).(*lsmBackend)
	kc := NewKeyContext(codec.Int64, 128)
	v := must1[ValueState[int64]](t)(NewValue(b, kc, "op/v", codec.Int64)).(*lsmValue[int64, int64])
	m := must1[MapState[int64, int64]](t)(NewMap(b, kc, "op/m", codec.Int64, codec.Int64)).(*lsmMap[int64, int64, int64])
	for i := range int64(2000) {
		kc.SetKey(i % 50)
		old, _, err := v.Value()
		must(t, err)
		must(t, v.Update(old+1))
		uv, _, err := m.Get(i % 7)
		must(t, err)
		must(t, m.Put(i%7, uv+1))
		if i%13 == 0 {
			must(t, v.Clear())
			must(t, m.Remove(i%7))
		}
		if n := len(v.cache.es); n > bound {
			t.Fatalf("op %d: value cache holds %d entries, bound %d", i, n, bound)
		}
		if n := m.cache.n; n > bound {
			t.Fatalf("op %d: map cache holds %d entries, bound %d", i, n, bound)
		}
	}
	// The same sequence in a heap backend gives the same state.
	h := NewHeap(all128, 128)
	t.Cleanup(func() { h.Close() })
	hv := must1[ValueState[int64]](t)(NewValue(h, kc, "op/v", codec.Int64))
	hm := must1[MapState[int64, int64]](t)(NewMap(h, kc, "op/m", codec.Int64, codec.Int64))
	for i := range int64(2000) {
		kc.SetKey(i % 50)
		old, _, _ := hv.Value()
		must(t, hv.Update(old+1))
		uv, _, _ := hm.Get(i % 7)
		must(t, hm.Put(i%7, uv+1))
		if i%13 == 0 {
			must(t, hv.Clear())
			must(t, hm.Remove(i%7))
		}
	}
	if got, want := normalized(snapshotOf(t, b)), normalized(snapshotOf(t, h)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lsm snapshot differs from heap:\n lsm %v\nheap %v", got, want)
	}
}

// TestLSMCacheReadPaths: writes held in the cache are seen by Range,
// IsEmpty and Snapshot, and map Clear drops the key's cached entries, dirty
// or clean.
func TestLSMCacheReadPaths(t *testing.T) {
	b := newTestLSM(t, all128, 128).(*lsmBackend)
	kc := NewKeyContext(codec.Int64, 128)
	m := must1[MapState[string, int64]](t)(NewMap(b, kc, "op/m", codec.String, codec.Int64))
	v := must1[ValueState[int64]](t)(NewValue(b, kc, "op/v", codec.Int64))
	kc.SetKey(1)
	must(t, m.Put("a", 1))
	must(t, m.Put("b", 2))
	must(t, v.Update(5))
	if b.batch.Count() != 0 {
		t.Fatalf("batch holds %d writes; want them cached", b.batch.Count())
	}
	got := map[string]int64{}
	must(t, m.Range(func(uk string, uv int64) error { got[uk] = uv; return nil }))
	if fmt.Sprint(got) != "map[a:1 b:2]" {
		t.Fatalf("Range saw %v", got)
	}
	must(t, m.Remove("a"))
	must(t, m.Remove("b"))
	if empty := must1[bool](t)(m.IsEmpty()); !empty {
		t.Fatal("IsEmpty after removing every entry: false")
	}
	must(t, m.Put("c", 3))
	_, _, err := m.Get("a") // a clean, cached absence
	must(t, err)
	must(t, m.Clear())
	if uv, ok := must2[int64, bool](t)(m.Get("c")); ok {
		t.Fatalf("Get(c) after Clear: %d", uv)
	}
	if empty := must1[bool](t)(m.IsEmpty()); !empty {
		t.Fatal("IsEmpty after Clear: false")
	}
	must(t, m.Put("d", 4))
	s := snapshotOf(t, b)
	if len(s.entries) != 2 {
		t.Fatalf("snapshot has %d entries, want the value and map entry d: %v", len(s.entries), s.entries)
	}
}
