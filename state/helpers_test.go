package state

import (
	"path/filepath"
	"strconv"
	"testing"
)

// backendMaker makes a fresh backend of one kind; it is closed when the test ends.
type backendMaker func(t testing.TB, kgs KeyGroupRange, maxParallelism int) Backend

var backendMakers = []struct {
	name string
	make backendMaker
}{
	{"heap", func(t testing.TB, kgs KeyGroupRange, maxP int) Backend {
		b := NewHeap(kgs, maxP)
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"lsm", newTestLSM},
}

var lsmCount int

func newTestLSM(t testing.TB, kgs KeyGroupRange, maxP int) Backend {
	lsmCount++
	dir := filepath.Join(t.TempDir(), "lsm-"+strconv.Itoa(lsmCount))
	b, err := NewLSM(dir, kgs, maxP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// forEachBackend runs one test function against every backend kind.
func forEachBackend(t *testing.T, fn func(t *testing.T, mk backendMaker)) {
	for _, bm := range backendMakers {
		t.Run(bm.name, func(t *testing.T) { fn(t, bm.make) })
	}
}

// memSnapshot is a snapshot held in memory: a SnapshotWriter that copies
// entries, and the source of readers filtered to a key-group range.
type memSnapshot struct{ entries []Entry }

func (s *memSnapshot) WriteEntry(e Entry) error {
	s.entries = append(s.entries, copyEntry(e))
	return nil
}

func (s *memSnapshot) reader(kgs KeyGroupRange) SnapshotReader {
	r := &sliceReader{}
	for _, e := range s.entries {
		if kgs.Contains(e.KeyGroup) {
			r.entries = append(r.entries, e)
		}
	}
	return r
}

type sliceReader struct{ entries []Entry }

func (r *sliceReader) Next() (Entry, bool, error) {
	if len(r.entries) == 0 {
		return Entry{}, false, nil
	}
	e := r.entries[0]
	r.entries = r.entries[1:]
	return e, true, nil
}

func snapshotOf(t testing.TB, b Backend) *memSnapshot {
	t.Helper()
	s := &memSnapshot{}
	if err := b.Snapshot(s); err != nil {
		t.Fatalf("snapshot %s: %v", b.Name(), err)
	}
	for i := 1; i < len(s.entries); i++ {
		if s.entries[i].KeyGroup < s.entries[i-1].KeyGroup {
			t.Fatalf("snapshot %s: entry %d has key group %d after %d", b.Name(), i, s.entries[i].KeyGroup, s.entries[i-1].KeyGroup)
		}
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must1[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
