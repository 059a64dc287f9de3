package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loom-yarn/loom/codec"
)

// incState is one state of each kind, as the incremental checkpoint tests
// write them.
type incState struct {
	kc *KeyContext[int64]
	v  ValueState[[]byte]
	l  ListState[int64]
	m  MapState[int64, int64]
	tm *Timers[int64]
}

func registerIncState(t testing.TB, b Backend) *incState {
	t.Helper()
	kc := NewKeyContext(codec.Int64, 128)
	return &incState{
		kc: kc,
		v:  must1[ValueState[[]byte]](t)(NewValue(b, kc, "op/value", codec.Bytes)),
		l:  must1[ListState[int64]](t)(NewList(b, kc, "op/list", codec.Int64)),
		m:  must1[MapState[int64, int64]](t)(NewMap(b, kc, "op/map", codec.Int64, codec.Int64)),
		tm: must1[*Timers[int64]](t)(NewTimers(b, kc, "op/timers")),
	}
}

// write updates key k's state for generation gen, if k is in kgs, and
// reports whether it was.
func (s *incState) write(t testing.TB, kgs KeyGroupRange, k, gen int64) bool {
	t.Helper()
	s.kc.SetKey(k)
	if !kgs.Contains(s.kc.KeyGroup()) {
		return false
	}
	must(t, s.v.Update(incValue(k, gen)))
	if k%3 == 0 {
		must(t, s.l.Add(gen))
	}
	if k%5 == 0 {
		must(t, s.m.Put(gen%4, k*gen))
	}
	if k%7 == 0 {
		must(t, s.tm.Register(k*1000+gen, Namespace{}))
	}
	return true
}

// incValue is 100 incompressible bytes, different for every key and
// generation, so that tables have realistic sizes.
func incValue(k, gen int64) []byte {
	r := rand.New(rand.NewPCG(uint64(k), uint64(gen)))
	v := make([]byte, 100)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// canonical is a backend's full snapshot as sorted lines, restricted to kgs:
// two backends hold the same state exactly when these are equal.
func canonical(t testing.TB, b Backend, kgs KeyGroupRange) []string {
	t.Helper()
	var out []string
	for _, e := range snapshotOf(t, b).entries {
		if kgs.Contains(e.KeyGroup) {
			out = append(out, fmt.Sprintf("%05d %s %x %x %x", e.KeyGroup, e.State, e.Key, e.UserKey, e.Value))
		}
	}
	slices.Sort(out)
	return out
}

func sameState(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: %d entries, want %d; first difference at %d:\n got %.120s\nwant %.120s", what, len(got), len(want), i, got[i], want[i])
		}
	}
	t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
}

// checkpointFiles takes an incremental checkpoint of b into a new directory.
func checkpointFiles(t testing.TB, b Backend) IncrementalSnapshot {
	t.Helper()
	s, err := b.(Incremental).CheckpointFiles(filepath.Join(t.TempDir(), "chk"))
	must(t, err)
	return s
}

// download copies the files of s into a new directory, as a checkpoint
// layer fetching them from remote storage would.
func download(t testing.TB, s IncrementalSnapshot) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range slices.Concat(s.Shared, s.Private) {
		data, err := os.ReadFile(f.Path)
		must(t, err)
		if int64(len(data)) != f.Size {
			t.Fatalf("%s: %d bytes, snapshot lists %d", f.Path, len(data), f.Size)
		}
		must(t, os.WriteFile(filepath.Join(dir, f.Name), data, 0o644))
	}
	return dir
}

func restoreLSM(t testing.TB, parts []RestorePart, kgs KeyGroupRange) Backend {
	t.Helper()
	b, err := OpenLSMFromCheckpoints(filepath.Join(t.TempDir(), "restored"), parts, kgs, 128)
	must(t, err)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	return data
}

func TestIncrementalCheckpointRoundTrip(t *testing.T) {
	const keys = 20_000
	b := newTestLSM(t, all128, 128)
	s := registerIncState(t, b)
	must1[ValueState[int64]](t)(NewValue(b, s.kc, "op/never-written", codec.Int64))
	for k := range int64(keys) {
		s.write(t, all128, k, 1)
	}
	checkpointFiles(t, b)
	// Change 1% of the keys, and remove some state.
	for k := int64(0); k < keys; k += 100 {
		s.write(t, all128, k, 2)
		s.kc.SetKey(k + 3)
		must(t, s.v.Clear())
		must(t, s.l.Clear())
		must(t, s.tm.Delete((k+3)*1000+1, Namespace{}))
	}
	c2 := checkpointFiles(t, b)
	want, wantTimers := canonical(t, b, all128), s.tm.Len()
	// Writes after the checkpoint do not reach its files.
	for k := int64(1); k < keys; k += 10 {
		s.write(t, all128, k, 3)
	}
	checkpointFiles(t, b)

	part := download(t, c2)
	r := restoreLSM(t, []RestorePart{{Dir: part, KeyGroups: all128}}, all128)
	sameState(t, "restored, before registration", canonical(t, r, all128), want)

	if _, ok := r.(*lsmBackend).ids[stateID("op/never-written")]; !ok {
		t.Errorf("restored backend lost the name of a registered state without entries; it knows %v", r.(*lsmBackend).ids)
	}

	rs := registerIncState(t, r)
	sameState(t, "restored, after registration", canonical(t, r, all128), want)
	if got, want := rs.tm.Len(), wantTimers; got != want {
		t.Errorf("restored %d timers, want %d", got, want)
	}
	rs.kc.SetKey(0)
	must(t, rs.l.Add(3)) // after the restored elements
	if got := must1[[]int64](t)(rs.l.Get()); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("list of key 0 after restore and add: %v, want [1 2 3]", got)
	}
	if v, ok, err := rs.v.Value(); err != nil || !ok || !bytes.Equal(v, incValue(0, 2)) {
		t.Errorf("value of key 0 after restore: %x %v %v", v, ok, err)
	}

	// The restored backend checkpoints on: the tables it kept from the part
	// (those no compaction has replaced since) keep their names and bytes,
	// and its checkpoint restores again.
	c3 := checkpointFiles(t, r)
	for _, f := range c3.Shared {
		orig, err := os.ReadFile(filepath.Join(part, f.Name))
		if err != nil {
			continue // a table made after the restore
		}
		if !bytes.Equal(orig, fileBytes(t, f.Path)) {
			t.Errorf("table %s of the restored backend differs from the part's table of that name", f.Name)
		}
	}
	r2 := restoreLSM(t, []RestorePart{{Dir: download(t, c3), KeyGroups: all128}}, all128)
	sameState(t, "restored twice", canonical(t, r2, all128), canonical(t, r, all128))
}

// TestIncrementalRestoreKeepsTables checks that a restore at the same key
// groups opens the part's own tables (hard links, no copies), and that the
// restored backend's first checkpoint lists them again under their names, so
// that a checkpoint layer can reference the files it downloaded. Compactions
// are off: one could replace the tables, legitimately.
func TestIncrementalRestoreKeepsTables(t *testing.T) {
	old := lsmTestOptions
	lsmTestOptions = func(o *pebble.Options) { o.DisableAutomaticCompactions = true }
	t.Cleanup(func() { lsmTestOptions = old })

	b := newTestLSM(t, all128, 128)
	s := registerIncState(t, b)
	for k := range int64(20_000) {
		s.write(t, all128, k, 1)
	}
	c := checkpointFiles(t, b)
	part := download(t, c)
	r := restoreLSM(t, []RestorePart{{Dir: part, KeyGroups: all128}}, all128)
	rdir := r.(*lsmBackend).dir
	for _, f := range c.Shared {
		a, err := os.Stat(filepath.Join(part, f.Name))
		must(t, err)
		b, err := os.Stat(filepath.Join(rdir, f.Name))
		must(t, err)
		if !os.SameFile(a, b) {
			t.Errorf("restored table %s is a copy, not a link of the part's", f.Name)
		}
	}
	rs := registerIncState(t, r)
	rs.write(t, all128, 1, 2)
	next := checkpointFiles(t, r)
	names := map[string]string{}
	for _, f := range next.Shared {
		names[f.Name] = f.Path
	}
	for _, f := range c.Shared {
		path, ok := names[f.Name]
		if !ok {
			t.Errorf("table %s of the part is not in the restored backend's checkpoint", f.Name)
			continue
		}
		if !bytes.Equal(fileBytes(t, path), fileBytes(t, filepath.Join(part, f.Name))) {
			t.Errorf("table %s differs between the part and the restored backend's checkpoint", f.Name)
		}
	}
	if len(next.Shared) <= len(c.Shared) {
		t.Errorf("the restored backend's checkpoint has %d tables, the part %d: where are the new writes?", len(next.Shared), len(c.Shared))
	}
}

// TestIncrementalCheckpointSharesTables checks what an incremental
// checkpoint relies on: a table name stands for the same bytes in every
// checkpoint of a backend, and a table leaves the list only when a compaction
// consumed it. With compactions off, what a checkpoint adds after 1% of the
// keys changed is small next to what it shares.
func TestIncrementalCheckpointSharesTables(t *testing.T) {
	for _, compactions := range []bool{false, true} {
		t.Run(fmt.Sprintf("compactions=%v", compactions), func(t *testing.T) {
			var mu sync.Mutex
			consumed := map[string]bool{} // tables compactions have replaced
			old := lsmTestOptions
			lsmTestOptions = func(o *pebble.Options) {
				// Small memtables and tables, so that the state spans many.
				o.MemTableSize = 1 << 20
				o.TargetFileSizes[0] = 256 << 10
				o.DisableAutomaticCompactions = !compactions
				o.EventListener = &pebble.EventListener{CompactionEnd: func(info pebble.CompactionInfo) {
					if info.Err != nil {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for _, l := range info.Input {
						for _, tb := range l.Tables {
							consumed[fmt.Sprintf("%06d.sst", uint64(tb.FileNum))] = true
						}
					}
					for _, tb := range info.Output.Tables { // a move keeps its table
						delete(consumed, fmt.Sprintf("%06d.sst", uint64(tb.FileNum)))
					}
				}}
			}
			t.Cleanup(func() { lsmTestOptions = old })

			const keys = 40_000
			b := newTestLSM(t, all128, 128)
			s := registerIncState(t, b)
			for k := range int64(keys) {
				s.write(t, all128, k, 1)
			}
			c1 := checkpointFiles(t, b)
			for k := int64(0); k < keys; k += 100 {
				s.write(t, all128, k, 2)
			}
			c2 := checkpointFiles(t, b)

			in2 := map[string]LocalSST{}
			var total2 int64
			for _, f := range c2.Shared {
				in2[f.Name] = f
				total2 += f.Size
			}
			in1 := map[string]bool{}
			var shared int64
			mu.Lock()
			defer mu.Unlock()
			for _, f := range c1.Shared {
				in1[f.Name] = true
				f2, ok := in2[f.Name]
				if !ok {
					if !consumed[f.Name] {
						t.Errorf("table %s of checkpoint 1 is not in checkpoint 2, and no compaction consumed it", f.Name)
					}
					continue
				}
				shared += f.Size
				if !bytes.Equal(fileBytes(t, f.Path), fileBytes(t, f2.Path)) {
					t.Errorf("table %s differs between checkpoints 1 and 2", f.Name)
				}
			}
			added := total2 - shared
			t.Logf("checkpoint 1: %d tables; checkpoint 2: %d tables, %d bytes, %d of them (%.1f%%) in tables new since checkpoint 1", len(c1.Shared), len(c2.Shared), total2, added, 100*float64(added)/float64(total2))
			if len(c1.Shared) < 4 {
				t.Fatalf("checkpoint 1 has %d tables; the test wants several", len(c1.Shared))
			}
			if !compactions {
				if len(in1) > len(in2) || shared == 0 {
					t.Errorf("without compactions checkpoint 2 lost tables of checkpoint 1")
				}
				if added*20 > total2 {
					t.Errorf("after 1%% of keys changed, checkpoint 2 has %d of %d bytes in new tables; want under 5%%", added, total2)
				}
			}
		})
	}
}

func TestIncrementalCheckpointRescale(t *testing.T) {
	const keys = 20_000
	var olds [2]Backend
	var parts []RestorePart
	var want []string
	for i := range olds {
		kgs := RangeForSubtask(128, 2, i)
		olds[i] = newTestLSM(t, kgs, 128)
		s := registerIncState(t, olds[i])
		for k := range int64(keys) {
			s.write(t, kgs, k, 1)
		}
		checkpointFiles(t, olds[i])
		for k := int64(0); k < keys; k += 100 {
			s.write(t, kgs, k, 2)
		}
		parts = append(parts, RestorePart{Dir: download(t, checkpointFiles(t, olds[i])), KeyGroups: kgs})
		want = append(want, canonical(t, olds[i], all128)...)
	}
	slices.Sort(want)
	inRange := func(kgs KeyGroupRange) []string {
		var out []string
		for _, l := range want {
			var kg int
			fmt.Sscanf(l, "%d", &kg)
			if kgs.Contains(kg) {
				out = append(out, l)
			}
		}
		return out
	}
	for _, p := range []int{1, 2, 3} {
		for i := range p {
			kgs := RangeForSubtask(128, p, i)
			t.Run(fmt.Sprintf("p=%d/%v", p, kgs), func(t *testing.T) {
				for _, ps := range [][]RestorePart{parts, {parts[1], parts[0]}} {
					r := restoreLSM(t, ps, kgs)
					sameState(t, "restored", canonical(t, r, all128), inRange(kgs))
					// Nothing outside kgs is left in the store, even hidden
					// from the snapshot.
					it, err := r.(*lsmBackend).db.NewIter(nil)
					must(t, err)
					n := 0
					for it.First(); it.Valid(); it.Next() {
						kg, _, _, _, err := parseStoreKey(it.Key())
						must(t, err)
						if !kgs.Contains(kg) {
							t.Fatalf("store key %x of key group %d is outside %v", it.Key(), kg, kgs)
						}
						n++
					}
					must(t, it.Close())
					if n == 0 {
						t.Fatal("restored store is empty")
					}
					// Nor in its tables: the deleted key groups were
					// compacted away.
					levels, err := r.(*lsmBackend).db.SSTables()
					must(t, err)
					lo, hi := kgBound(kgs.Start), kgBound(kgs.End)
					for l, ts := range levels {
						for _, tb := range ts {
							if bytes.Compare(tb.Smallest.UserKey, lo) < 0 || bytes.Compare(tb.Largest.UserKey, hi) >= 0 {
								t.Errorf("L%d table %s spans %x..%x, beyond key groups %v", l, tb.FileNum, tb.Smallest.UserKey, tb.Largest.UserKey, kgs)
							}
						}
					}
					s := registerIncState(t, r)
					sameState(t, "restored, after registration", canonical(t, r, all128), inRange(kgs))
					// It goes on: write, checkpoint, restore.
					for k := int64(0); k < keys; k += 50 {
						s.write(t, kgs, k, 3)
					}
					again := restoreLSM(t, []RestorePart{{Dir: download(t, checkpointFiles(t, r)), KeyGroups: kgs}}, kgs)
					sameState(t, "checkpointed after the rescale and restored", canonical(t, again, all128), canonical(t, r, all128))
				}
			})
		}
	}
}

func TestIncrementalRestoreDamagedPart(t *testing.T) {
	b := newTestLSM(t, all128, 128)
	s := registerIncState(t, b)
	for k := range int64(5_000) {
		s.write(t, all128, k, 1)
	}
	c := checkpointFiles(t, b)
	if len(c.Shared) == 0 {
		t.Fatal("checkpoint has no tables")
	}
	table := c.Shared[0].Name
	tests := []struct {
		name   string
		damage func(dir string) error
		want   []string // substrings of the error
	}{
		{"missing table", func(dir string) error { return os.Remove(filepath.Join(dir, table)) },
			[]string{table, "missing"}},
		{"truncated table", func(dir string) error { return os.Truncate(filepath.Join(dir, table), c.Shared[0].Size/2) },
			[]string{table, "truncated"}},
		{"missing state file", func(dir string) error { return os.Remove(filepath.Join(dir, lsmStateFile)) },
			[]string{lsmStateFile, "missing"}},
		{"damaged state file", func(dir string) error {
			p := filepath.Join(dir, lsmStateFile)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			data[len(data)/2] ^= 1
			return os.WriteFile(p, data, 0o644)
		}, []string{lsmStateFile, "corrupt"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			part := download(t, c)
			must(t, tc.damage(part))
			dir := filepath.Join(t.TempDir(), "restored")
			r, err := OpenLSMFromCheckpoints(dir, []RestorePart{{Dir: part, KeyGroups: all128}}, all128, 128)
			if err == nil {
				r.Close()
				t.Fatal("restore from a damaged part succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("failed restore left %s behind", dir)
			}
		})
	}
}

func TestIncrementalRestoreBadParts(t *testing.T) {
	var parts []RestorePart
	for i := range 2 {
		kgs := RangeForSubtask(128, 2, i)
		b := newTestLSM(t, kgs, 128)
		s := registerIncState(t, b)
		for k := range int64(1_000) {
			s.write(t, kgs, k, 1)
		}
		parts = append(parts, RestorePart{Dir: download(t, checkpointFiles(t, b)), KeyGroups: kgs})
	}
	tests := []struct {
		name  string
		parts []RestorePart
		kgs   KeyGroupRange
		maxP  int
		want  string
	}{
		{"gap", parts[:1], all128, 128, "no restore part holds key groups [64,128)"},
		{"overlap", []RestorePart{parts[0], parts[0], parts[1]}, all128, 128, "both hold key groups [0,64)"},
		{"wrong range", []RestorePart{{Dir: parts[0].Dir, KeyGroups: KeyGroupRange{Start: 0, End: 128}}}, all128, 128, "holds key groups [0,64), not [0,128)"},
		{"max parallelism", parts, KeyGroupRange{Start: 0, End: 128}, 256, "max parallelism 128, not 256"},
		{"no parts", nil, all128, 128, "no restore part holds key groups [0,128)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenLSMFromCheckpoints(filepath.Join(t.TempDir(), "restored"), tc.parts, tc.kgs, tc.maxP)
			if err == nil {
				r.Close()
				t.Fatal("restore succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	// Parts that hold none of the key groups are ignored.
	r := restoreLSM(t, slices.Concat(parts, []RestorePart{{Dir: t.TempDir(), KeyGroups: KeyGroupRange{Start: 0, End: 0}}}), RangeForSubtask(128, 2, 1))
	if r.KeyGroups() != RangeForSubtask(128, 2, 1) {
		t.Errorf("restored key groups %v", r.KeyGroups())
	}
}

func TestCheckpointFilesRefused(t *testing.T) {
	b := newTestLSM(t, all128, 128)
	s := registerIncState(t, b)
	s.write(t, all128, 5, 1)

	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644))
	if _, err := b.(Incremental).CheckpointFiles(dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("checkpoint into an existing directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Errorf("refused checkpoint touched the existing directory: %v", err)
	}

	var inRange error
	must(t, s.m.Range(func(int64, int64) error {
		_, inRange = b.(Incremental).CheckpointFiles(filepath.Join(t.TempDir(), "chk"))
		return nil
	}))
	if inRange == nil || !strings.Contains(inRange.Error(), "Range") {
		t.Errorf("checkpoint inside a map Range: %v", inRange)
	}
}
