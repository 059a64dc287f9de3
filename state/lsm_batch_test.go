package state

import (
	"fmt"
	"slices"
	"testing"

	"github.com/loom-yarn/loom/codec"
)

// withFlushSize lowers the LSM backend's batch commit threshold for one test.
func withFlushSize(t *testing.T, n int) {
	old := lsmFlushSize
	lsmFlushSize = n
	t.Cleanup(func() { lsmFlushSize = old })
}

// TestMetamorphicSmallBatches reruns the heap-vs-LSM comparison with a batch
// that commits every few writes, so commits land between every kind of
// operation, snapshot and restore.
func TestMetamorphicSmallBatches(t *testing.T) {
	for _, size := range []int{1, 200, 4 << 10} {
		t.Run(fmt.Sprint("flush", size), func(t *testing.T) {
			withFlushSize(t, size)
			metamorphic(t, 7, 3000)
		})
	}
}

// TestLSMBatchCommits checks that writes commit once the batch crosses
// lsmFlushSize, and that values read the same before and after a commit.
func TestLSMBatchCommits(t *testing.T) {
	withFlushSize(t, 1<<10)
	withCacheEntries(t, 1) // every write of another key reaches the batch
	b := newTestLSM(t, all128, 128).(*lsmBackend)
	kc := NewKeyContext(codec.Int64, 128)
	v := must1[ValueState[int64]](t)(NewValue(b, kc, "op/v", codec.Int64))
	commits := 0
	for i := range int64(1000) {
		kc.SetKey(i % 37)
		before := b.batch.Len()
		old, _, err := v.Value()
		must(t, err)
		must(t, v.Update(old+i))
		if b.batch.Len() < before {
			commits++
		}
		if b.batch.Len() >= lsmFlushSize {
			t.Fatalf("write %d: batch holds %d bytes, over the %d threshold", i, b.batch.Len(), lsmFlushSize)
		}
	}
	if commits < 10 {
		t.Fatalf("%d commits in 1000 writes with a 1 KiB threshold", commits)
	}
	for k := range int64(37) {
		kc.SetKey(k)
		var want int64
		for i := k; i < 1000; i += 37 {
			want += i
		}
		if got, ok := must2[int64, bool](t)(v.Value()); !ok || got != want {
			t.Fatalf("key %d: %d,%v, want %d", k, got, ok, want)
		}
	}
}

// TestLSMRangeWhileWriting: Range iterates the map as it was when Range
// started, even when fn writes (to other states, and against the rule to this
// one) enough to cross the commit threshold; the batch commits after Range.
// fn writes a list state, which has no write-back cache, so its writes reach
// the batch; the map's writes reach it when the cache evicts.
func TestLSMRangeWhileWriting(t *testing.T) {
	for _, entries := range []int{1, lsmCacheEntries} {
		t.Run(fmt.Sprint("cache", entries), func(t *testing.T) {
			withCacheEntries(t, entries)
			lsmRangeWhileWriting(t)
		})
	}
}

func lsmRangeWhileWriting(t *testing.T) {
	withFlushSize(t, 256)
	b := newTestLSM(t, all128, 128).(*lsmBackend)
	kc := NewKeyContext(codec.Int64, 128)
	m := must1[MapState[string, int64]](t)(NewMap(b, kc, "op/m", codec.String, codec.Int64))
	v := must1[ListState[int64]](t)(NewList(b, kc, "op/l", codec.Int64))
	kc.SetKey(1)
	for i := range int64(5) {
		must(t, m.Put(fmt.Sprint("k", i), i))
	}
	var seen []string
	must(t, m.Range(func(uk string, uv int64) error {
		seen = append(seen, uk)
		for i := range int64(20) {
			if err := v.Add(uv*100 + i); err != nil {
				return err
			}
		}
		if err := m.Put(uk+"x", uv); err != nil { // breaks the rule; must not be visited
			return err
		}
		if err := m.Remove("k4"); err != nil {
			return err
		}
		// Reads inside fn see the writes so far.
		if got, ok, err := m.Get(uk + "x"); err != nil || !ok || got != uv {
			return fmt.Errorf("get %sx inside Range: %d,%v,%v", uk, got, ok, err)
		}
		return nil
	}))
	slices.Sort(seen)
	if want := []string{"k0", "k1", "k2", "k3", "k4"}; !slices.Equal(seen, want) {
		t.Fatalf("Range visited %v, want %v", seen, want)
	}
	if b.batch.Len() < lsmFlushSize {
		t.Fatalf("batch holds %d bytes after Range: it was committed while Range was open", b.batch.Len())
	}
	must(t, v.Add(7)) // the first write after Range commits
	if b.batch.Len() >= lsmFlushSize {
		t.Fatalf("batch holds %d bytes after a write following Range", b.batch.Len())
	}
	var after []string
	must(t, m.Range(func(uk string, _ int64) error { after = append(after, uk); return nil }))
	slices.Sort(after)
	if want := []string{"k0", "k0x", "k1", "k1x", "k2", "k2x", "k3", "k3x", "k4x"}; !slices.Equal(after, want) {
		t.Fatalf("after Range, map has %v, want %v", after, want)
	}
}
