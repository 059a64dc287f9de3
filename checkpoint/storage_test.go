package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
)

// keyGroupRange is the range subtask i of p owns out of maxPar key groups,
// as the runtime assigns them (Flink's formula).
func keyGroupRange(maxPar, p, i int) state.KeyGroupRange {
	return state.KeyGroupRange{Start: (i*maxPar + p - 1) / p, End: ((i+1)*maxPar + p - 1) / p}
}

// testEntries makes n entries per key group in kgs over two states, ordered
// by key group as a backend writes them. Values vary in size so that some key
// groups span several chunks when big is set.
func testEntries(rng *rand.Rand, kgs state.KeyGroupRange, n int, big bool) []state.Entry {
	var es []state.Entry
	for kg := kgs.Start; kg < kgs.End; kg++ {
		for j := 0; j < n; j++ {
			size := rng.IntN(40)
			if big {
				size = 1000 + rng.IntN(4000)
			}
			v := make([]byte, size)
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			st := "op1/count"
			var uk []byte
			if j%3 == 0 {
				st, uk = "op2/map", []byte(fmt.Sprintf("uk%d", j))
			}
			es = append(es, state.Entry{KeyGroup: kg, State: st, Key: []byte(fmt.Sprintf("key-%d-%d", kg, j)), UserKey: uk, Value: v})
		}
	}
	return es
}

// writeTask writes one task file with the given entries and operator states.
func writeTask(t *testing.T, s *Storage, id int64, task string, sub, par int, kgs state.KeyGroupRange, es []state.Entry, ops map[string][]byte) TaskSnapshot {
	t.Helper()
	w, err := s.NewTaskWriter(id, task, sub, par, kgs)
	if err != nil {
		t.Fatal(err)
	}
	uids := make([]string, 0, len(ops))
	for uid := range ops {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	for i, e := range es {
		if i == len(es)/2 && len(uids) > 0 { // operator state may come between entries
			if err := w.WriteOperatorState(uids[0], ops[uids[0]]); err != nil {
				t.Fatal(err)
			}
			uids = uids[1:]
		}
		// The writer must copy: scribble over the caller's buffers after the call.
		key := slices.Clone(e.Key)
		e.Key = key
		if err := w.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
		clear(key)
	}
	for _, uid := range uids {
		if err := w.WriteOperatorState(uid, ops[uid]); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func readAll(t *testing.T, r state.SnapshotReader) []state.Entry {
	t.Helper()
	var out []state.Entry
	for {
		e, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

func entryString(e state.Entry) string {
	return fmt.Sprintf("%d|%s|%q|%q|%x", e.KeyGroup, e.State, e.Key, e.UserKey, e.Value)
}

func entryStrings(es []state.Entry) []string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = entryString(e)
	}
	return s
}

func TestTaskFileRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		kgs  state.KeyGroupRange
		n    int
		big  bool
		ops  map[string][]byte
	}{
		{"keyed and operator state", state.KeyGroupRange{Start: 3, End: 9}, 20, false, map[string][]byte{"src": []byte("offset=42"), "sink": {}}},
		{"key groups spanning chunks", state.KeyGroupRange{Start: 0, End: 4}, 200, true, map[string][]byte{"src": []byte("x")}},
		{"operator state only", state.KeyGroupRange{}, 0, false, map[string][]byte{"src": bytes.Repeat([]byte("p"), 1000)}},
		{"keyed state only", state.KeyGroupRange{Start: 0, End: 128}, 1, false, nil},
		{"empty", state.KeyGroupRange{Start: 0, End: 8}, 0, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLocalStorage(t.TempDir())
			es := testEntries(rng, tc.kgs, tc.n, tc.big)
			snap := writeTask(t, s, 1, "map", 0, 1, tc.kgs, es, tc.ops)
			want := TaskSnapshot{Task: "map", Subtask: 0, Parallelism: 1, KeyGroups: tc.kgs, File: "map-0.state", Size: snap.Size}
			if !reflect.DeepEqual(snap, want) {
				t.Fatalf("snapshot = %+v, want %+v", snap, want)
			}
			if st, err := os.Stat(filepath.Join(s.Dir(1), snap.File)); err != nil || st.Size() != snap.Size {
				t.Fatalf("file on disk: %v, size %v, snapshot says %d", err, st, snap.Size)
			}
			if tc.big { // the case must exercise key groups split over several chunks
				tf, err := openTaskFile(vfs.Default, s.Dir(1)+"/"+snap.File)
				if err != nil {
					t.Fatal(err)
				}
				tf.Close()
				if len(tf.chunks) < 2*tc.kgs.Len() {
					t.Fatalf("%d chunks for %d key groups of ~600 KiB each: chunking did not happen", len(tf.chunks), tc.kgs.Len())
				}
			}
			md := Metadata{Job: "j", GraphHash: "g", ID: 1, Timestamp: time.Unix(100, 0).UTC(), Tasks: []TaskSnapshot{snap}}
			if err := s.WriteMetadata(md); err != nil {
				t.Fatal(err)
			}
			got, dir, err := Load(s.Root())
			if err != nil {
				t.Fatal(err)
			}
			md.Version = MetadataVersion
			if fmt.Sprint(*got) != fmt.Sprint(md) || dir != s.Dir(1) {
				t.Fatalf("Load = %+v in %s, want %+v in %s", *got, dir, md, s.Dir(1))
			}
			r, err := OpenRestore(dir, got, "map", 0, tc.kgs)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for uid, data := range tc.ops {
				if b := r.OperatorState(uid); !bytes.Equal(b, data) || b == nil {
					t.Errorf("operator state %q = %q, want %q", uid, b, data)
				}
			}
			if b := r.OperatorState("absent"); b != nil {
				t.Errorf("operator state of an unknown uid = %q, want nil", b)
			}
			// Two passes give the same entries, in the order written.
			for pass := 0; pass < 2; pass++ {
				if got, want := entryStrings(readAll(t, r.Keyed())), entryStrings(es); !slices.Equal(got, want) {
					t.Fatalf("pass %d: %d entries read, %d written; first difference at %d", pass, len(got), len(want), firstDiff(got, want))
				}
			}
			names, _ := os.ReadDir(s.Dir(1))
			for _, n := range names {
				if strings.HasPrefix(n.Name(), ".") {
					t.Errorf("temporary file %s left behind", n.Name())
				}
			}
		})
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestTaskWriterRejectsBadInput(t *testing.T) {
	kgs := state.KeyGroupRange{Start: 4, End: 8}
	for _, tc := range []struct {
		name string
		do   func(w *TaskWriter) error
		want string
	}{
		{"key group below range", func(w *TaskWriter) error {
			return w.WriteEntry(state.Entry{KeyGroup: 3, State: "s"})
		}, `entry of state "s" in key group 3 is outside the task's range [4,8)`},
		{"key group above range", func(w *TaskWriter) error {
			return w.WriteEntry(state.Entry{KeyGroup: 8, State: "s"})
		}, "key group 8 is outside"},
		{"out of order", func(w *TaskWriter) error {
			if err := w.WriteEntry(state.Entry{KeyGroup: 6, State: "s"}); err != nil {
				return err
			}
			return w.WriteEntry(state.Entry{KeyGroup: 5, State: "s"})
		}, "ordered by key group, got key group 5 after 6"},
		{"operator state twice", func(w *TaskWriter) error {
			if err := w.WriteOperatorState("src", nil); err != nil {
				return err
			}
			return w.WriteOperatorState("src", nil)
		}, `operator state of "src" written twice`},
		{"write after close", func(w *TaskWriter) error {
			if _, err := w.Close(); err != nil {
				return err
			}
			return w.WriteEntry(state.Entry{KeyGroup: 5, State: "s"})
		}, "already closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLocalStorage(t.TempDir())
			w, err := s.NewTaskWriter(1, "map", 0, 2, kgs)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			err = tc.do(w)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name      string
		task      string
		sub, par  int
		kgs       state.KeyGroupRange
		wantError string
	}{
		{"no task name", "", 0, 1, kgs, "needs a task name"},
		{"subtask beyond parallelism", "map", 2, 2, kgs, "subtask 2 is outside parallelism 2"},
		{"inverted range", "map", 0, 1, state.KeyGroupRange{Start: 5, End: 2}, "invalid key-group range [5,2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLocalStorage(t.TempDir()).NewTaskWriter(1, tc.task, tc.sub, tc.par, tc.kgs)
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantError)
			}
		})
	}
}

func TestTaskWriterAbortRemovesPartialFile(t *testing.T) {
	s := NewLocalStorage(t.TempDir())
	w, err := s.NewTaskWriter(3, "map", 0, 1, state.KeyGroupRange{Start: 0, End: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEntry(state.Entry{KeyGroup: 1, State: "s", Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort()
	names, err := os.ReadDir(s.Dir(3))
	if err != nil || len(names) != 0 {
		t.Fatalf("after Abort the directory holds %v (err %v), want nothing", names, err)
	}
	if _, err := w.Close(); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
}

func TestTaskFileNames(t *testing.T) {
	for _, tc := range []struct {
		task string
		sub  int
		want string
	}{
		{"map", 3, "map-3.state"},
		{"Source_1.x-y", 0, "Source_1.x-y-0.state"},
	} {
		if got := taskFileName(tc.task, tc.sub); got != tc.want {
			t.Errorf("taskFileName(%q, %d) = %q, want %q", tc.task, tc.sub, got, tc.want)
		}
	}
	// Unsafe characters are replaced, and a hash keeps names apart that would
	// otherwise collide.
	seen := map[string]string{}
	for _, task := range []string{"a/b", "a_b", "a b", "../x", ".hidden", "src -> map"} {
		name := taskFileName(task, 0)
		if strings.ContainsAny(name, "/ \\") || strings.HasPrefix(name, ".") {
			t.Errorf("taskFileName(%q) = %q is not a safe plain name", task, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("tasks %q and %q share file name %q", task, other, name)
		}
		seen[name] = task
	}
}

// corruptFixture writes a checkpoint with one task file and returns the
// storage, the file's path and its parsed index (for the offsets of regions).
func corruptFixture(t *testing.T) (*Storage, *Metadata, string, *taskFile) {
	t.Helper()
	s := NewLocalStorage(t.TempDir())
	kgs := state.KeyGroupRange{Start: 0, End: 4}
	es := testEntries(rand.New(rand.NewPCG(3, 4)), kgs, 10, false)
	snap := writeTask(t, s, 1, "map", 0, 1, kgs, es, map[string][]byte{"src": []byte("position")})
	md := Metadata{ID: 1, Tasks: []TaskSnapshot{snap}}
	if err := s.WriteMetadata(md); err != nil {
		t.Fatal(err)
	}
	md.Version = MetadataVersion
	p := filepath.Join(s.Dir(1), snap.File)
	tf, err := openTaskFile(vfs.Default, filepath.ToSlash(p))
	if err != nil {
		t.Fatal(err)
	}
	tf.Close()
	return s, &md, p, tf
}

func TestCorruptionIsDetected(t *testing.T) {
	_, _, _, tf := corruptFixture(t)
	size := tf.chunks[len(tf.chunks)-1].off + tf.chunks[len(tf.chunks)-1].len
	for _, tc := range []struct {
		name   string
		offset func(tf *taskFile, fileSize int64) int64
	}{
		{"header magic", func(*taskFile, int64) int64 { return 1 }},
		{"operator state block", func(tf *taskFile, _ int64) int64 { return tf.ops["src"].off + 2 }},
		{"first keyed chunk", func(tf *taskFile, _ int64) int64 { return tf.chunks[0].off + 5 }},
		{"last keyed chunk", func(tf *taskFile, _ int64) int64 { c := tf.chunks[len(tf.chunks)-1]; return c.off + c.len - 1 }},
		{"index", func(_ *taskFile, _ int64) int64 { return size + 3 }},
		{"footer checksum", func(_ *taskFile, n int64) int64 { return n - 6 }},
		{"footer offset", func(_ *taskFile, n int64) int64 { return n - footerLen }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, md, p, tf := corruptFixture(t)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[tc.offset(tf, int64(len(b)))] ^= 0x40
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			err = restoreEverything(s, md)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "map-0.state") {
				t.Fatalf("restore of a file damaged in its %s: error %v, want ErrCorrupt naming the file", tc.name, err)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		s, md, p, _ := corruptFixture(t)
		b, _ := os.ReadFile(p)
		for _, n := range []int{0, 3, len(b) / 2, len(b) - 1} {
			if err := os.WriteFile(p, b[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			md.Tasks[0].Size = int64(n) // so that the size check alone does not catch it
			if err := restoreEverything(s, md); !errors.Is(err, ErrCorrupt) {
				t.Errorf("file truncated to %d of %d bytes: error %v, want ErrCorrupt", n, len(b), err)
			}
		}
	})
	t.Run("size differs from metadata", func(t *testing.T) {
		s, md, _, _ := corruptFixture(t)
		md.Tasks[0].Size++
		if err := restoreEverything(s, md); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "metadata says") {
			t.Fatalf("error %v, want ErrCorrupt about the metadata", err)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		s, _, _, _ := corruptFixture(t)
		mp := filepath.Join(s.Dir(1), MetadataFile)
		b, _ := os.ReadFile(mp)
		if err := os.WriteFile(mp, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(s.Root())
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), mp) {
			t.Fatalf("Load of truncated metadata: error %v, want ErrCorrupt naming %s", err, mp)
		}
	})
}

// restoreEverything opens every task of md and reads all of its state.
func restoreEverything(s *Storage, md *Metadata) error {
	for _, ts := range md.Tasks {
		r, err := OpenRestore(s.Dir(md.ID), md, ts.Task, ts.Subtask, ts.KeyGroups)
		if err != nil {
			return err
		}
		k := r.Keyed()
		for {
			_, ok, err := k.Next()
			if err != nil {
				r.Close()
				return err
			}
			if !ok {
				break
			}
		}
		r.Close()
	}
	return nil
}

func TestRescaleRestore(t *testing.T) {
	const maxPar, oldPar = 128, 4
	s := NewLocalStorage(t.TempDir())
	rng := rand.New(rand.NewPCG(5, 6))
	md := Metadata{Job: "wordcount", GraphHash: "h", ID: 7}
	var all []state.Entry
	for i := range oldPar {
		kgs := keyGroupRange(maxPar, oldPar, i)
		es := testEntries(rng, kgs, 1+rng.IntN(5), false)
		all = append(all, es...)
		md.Tasks = append(md.Tasks, writeTask(t, s, 7, "count", i, oldPar, kgs, es, map[string][]byte{"count": []byte(fmt.Sprintf("sub%d", i))}))
	}
	// A non-keyed task of the same job must not leak into the keyed restore.
	md.Tasks = append(md.Tasks, writeTask(t, s, 7, "src", 0, 1, state.KeyGroupRange{}, nil, map[string][]byte{"src": []byte("offset")}))
	if err := s.WriteMetadata(md); err != nil {
		t.Fatal(err)
	}
	got, dir, err := Load(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	for _, newPar := range []int{1, 2, 3, 4, 5, 8} {
		t.Run(fmt.Sprintf("from %d to %d", oldPar, newPar), func(t *testing.T) {
			var restored []state.Entry
			for i := range newPar {
				kgs := keyGroupRange(maxPar, newPar, i)
				r, err := OpenRestore(dir, got, "count", i, kgs)
				if err != nil {
					t.Fatal(err)
				}
				es := readAll(t, r.Keyed())
				defer r.Close()
				for j, e := range es {
					if !kgs.Contains(e.KeyGroup) {
						t.Fatalf("subtask %d of %d owning %v got an entry of key group %d", i, newPar, kgs, e.KeyGroup)
					}
					if j > 0 && e.KeyGroup < es[j-1].KeyGroup {
						t.Fatalf("subtask %d: key group %d after %d: entries not ordered", i, e.KeyGroup, es[j-1].KeyGroup)
					}
				}
				var want []string
				for _, e := range all {
					if kgs.Contains(e.KeyGroup) {
						want = append(want, entryString(e))
					}
				}
				if g := entryStrings(es); !slices.Equal(g, want) {
					t.Fatalf("subtask %d of %d owning %v: %d entries, want %d", i, newPar, kgs, len(g), len(want))
				}
				// Operator state follows the subtask index.
				wantOp := []byte(fmt.Sprintf("sub%d", i))
				if i >= oldPar {
					wantOp = nil
				}
				if op := r.OperatorState("count"); !bytes.Equal(op, wantOp) {
					t.Errorf("subtask %d operator state = %q, want %q", i, op, wantOp)
				}
				ops, err := r.OperatorStates("count")
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprintf("%q", ops); got != `["sub0" "sub1" "sub2" "sub3"]` {
					t.Errorf("subtask %d: operator states of all subtasks = %s", i, got)
				}
				if ops, err := r.OperatorStates("absent"); err != nil || len(ops) != oldPar || slices.ContainsFunc(ops, func(b []byte) bool { return b != nil }) {
					t.Errorf("operator states of an unknown uid = %q, %v; want %d nils", ops, err, oldPar)
				}
				restored = append(restored, es...)
			}
			a, b := entryStrings(restored), entryStrings(all)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Fatalf("restored %d entries at parallelism %d, the checkpoint holds %d", len(a), newPar, len(b))
			}
		})
	}
	t.Run("max parallelism changed", func(t *testing.T) {
		_, err := OpenRestore(dir, got, "count", 0, state.KeyGroupRange{Start: 100, End: 200})
		if err == nil || !strings.Contains(err.Error(), "no state for key group 128") || !strings.Contains(err.Error(), "max parallelism") {
			t.Fatalf("error %v, want one about key group 128 and max parallelism", err)
		}
	})
	t.Run("task absent from the checkpoint", func(t *testing.T) {
		r, err := OpenRestore(dir, got, "new-operator", 0, keyGroupRange(maxPar, 2, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if es := readAll(t, r.Keyed()); len(es) != 0 || r.OperatorState("count") != nil {
			t.Fatalf("a task the checkpoint does not know restored %d entries", len(es))
		}
	})
	t.Run("overlapping files", func(t *testing.T) {
		bad := *got
		bad.Tasks = slices.Clone(got.Tasks)
		bad.Tasks[1].KeyGroups.Start--
		_, err := OpenRestore(dir, &bad, "count", 0, keyGroupRange(maxPar, 1, 0))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "overlapping") {
			t.Fatalf("error %v, want ErrCorrupt about overlapping key groups", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, got.Tasks[2].File)); err != nil {
			t.Fatal(err)
		}
		_, err := OpenRestore(dir, got, "count", 0, keyGroupRange(maxPar, 1, 0))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "count-2.state") {
			t.Fatalf("error %v, want not-exist naming count-2.state", err)
		}
	})
}

// writeCheckpoint writes a complete (or, without metadata, incomplete)
// checkpoint id with one small task file.
func writeCheckpoint(t *testing.T, s *Storage, id int64, complete bool) {
	t.Helper()
	kgs := state.KeyGroupRange{Start: 0, End: 2}
	snap := writeTask(t, s, id, "map", 0, 1, kgs, []state.Entry{{KeyGroup: 1, State: "s", Key: []byte(fmt.Sprint(id))}}, nil)
	if complete {
		if err := s.WriteMetadata(Metadata{ID: id, Tasks: []TaskSnapshot{snap}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	s := NewLocalStorage(root)
	writeCheckpoint(t, s, 2, true)
	writeCheckpoint(t, s, 9, true)
	writeCheckpoint(t, s, 10, false) // crashed before its metadata
	writeCheckpoint(t, s, 11, false)
	for _, name := range []string{"chk-x", "chk-012", "savepoints"} { // not checkpoints
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		path    string
		wantID  int64
		wantErr string
		is      error
	}{
		{"root picks the highest complete", root, 9, "", nil},
		{"root with a trailing slash", root + "/", 9, "", nil},
		{"one checkpoint", filepath.Join(root, "chk-2"), 2, "", nil},
		{"incomplete checkpoint", filepath.Join(root, "chk-10"), 0, "has no _metadata, so the checkpoint never completed", ErrNoCheckpoint},
		{"missing checkpoint", filepath.Join(root, "chk-3"), 0, "chk-3 does not exist", nil},
		{"missing root", filepath.Join(root, "nope"), 0, "nope does not exist", nil},
		{"root without checkpoints", filepath.Join(root, "savepoints"), 0, "found nothing named chk-<id>", ErrNoCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, dir, err := Load(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || (tc.is != nil && !errors.Is(err, tc.is)) {
					t.Fatalf("Load(%s) error = %v, want one containing %q", tc.path, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.ID != tc.wantID || dir != filepath.ToSlash(filepath.Join(root, fmt.Sprintf("chk-%d", tc.wantID))) {
				t.Fatalf("Load(%s) = checkpoint %d in %s, want %d", tc.path, md.ID, dir, tc.wantID)
			}
		})
	}
	t.Run("only incomplete checkpoints", func(t *testing.T) {
		s := NewLocalStorage(t.TempDir())
		writeCheckpoint(t, s, 4, false)
		writeCheckpoint(t, s, 5, false)
		_, _, err := Load(s.Root())
		if !errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "found chk-4, chk-5 without _metadata") {
			t.Fatalf("error %v, want ErrNoCheckpoint listing chk-4, chk-5", err)
		}
	})
	t.Run("task file missing or of another size", func(t *testing.T) {
		s := NewLocalStorage(t.TempDir())
		writeCheckpoint(t, s, 3, true)
		writeCheckpoint(t, s, 4, true)
		f := filepath.Join(s.Dir(4), "map-0.state")
		if err := os.Truncate(f, 7); err != nil {
			t.Fatal(err)
		}
		// The directory of checkpoints: the damaged latest is skipped, said
		// so, and the previous one restored.
		md, dir, err := Load(s.Root())
		if err != nil {
			t.Fatalf("Load(root): %v, want checkpoint 3 after skipping 4", err)
		}
		if md.ID != 3 || dir != s.Dir(3) || len(md.Skipped) != 1 ||
			!strings.Contains(md.Skipped[0], "checkpoint 4 refused") || !strings.Contains(md.Skipped[0], f+" has 7 bytes, but the metadata recorded") {
			t.Fatalf("Load(root) = checkpoint %v in %s, skipped %q, %v; want checkpoint 3, saying why 4 was refused", md, dir, md.Skipped, err)
		}
		// The damaged checkpoint itself is refused, naming the file and sizes.
		if _, _, err := Load(s.Dir(4)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), f+" has 7 bytes, but the metadata recorded") {
			t.Fatalf("error %v, want ErrCorrupt naming %s and both sizes", err, f)
		}
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		_, _, err = Load(s.Dir(4))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), f+" of map/0, which does not exist") {
			t.Fatalf("error %v, want ErrCorrupt naming the missing %s", err, f)
		}
	})
	t.Run("metadata names another checkpoint", func(t *testing.T) {
		s := NewLocalStorage(t.TempDir())
		writeCheckpoint(t, s, 4, true)
		if err := os.Rename(s.Dir(4), s.Dir(6)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(s.Root()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "names checkpoint 4, not 6") {
			t.Fatalf("error %v, want ErrCorrupt about the id", err)
		}
	})
}

func TestWriteMetadataRejectsBadMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		md   Metadata
		want string
	}{
		{"no id", Metadata{}, "checkpoint id 0 is not positive"},
		{"file outside the directory", Metadata{ID: 1, Tasks: []TaskSnapshot{{Task: "a", Parallelism: 1, File: "../a"}}}, `file "../a" must be a plain name`},
		{"task twice", Metadata{ID: 1, Tasks: []TaskSnapshot{{Task: "a", Parallelism: 1, File: "f"}, {Task: "a", Parallelism: 1, File: "g"}}}, "task a/0 is listed twice"},
		{"future version", Metadata{Version: 2, ID: 1}, "metadata version 2 is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLocalStorage(t.TempDir())
			err := s.WriteMetadata(tc.md)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(s.Dir(tc.md.ID), MetadataFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("rejected metadata was written: %v", err)
			}
		})
	}
}

func TestDiscardAndRemoveIncomplete(t *testing.T) {
	s := NewLocalStorage(t.TempDir())
	for id := int64(1); id <= 5; id++ {
		writeCheckpoint(t, s, id, id%2 == 1)
	}
	complete, incomplete, err := s.IDs()
	if err != nil || !slices.Equal(complete, []int64{1, 3, 5}) || !slices.Equal(incomplete, []int64{2, 4}) {
		t.Fatalf("IDs = %v, %v, %v; want [1 3 5] [2 4]", complete, incomplete, err)
	}
	if err := s.Discard(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(1); err != nil {
		t.Fatalf("discarding twice: %v", err)
	}
	if err := s.RemoveIncomplete(); err != nil {
		t.Fatal(err)
	}
	complete, incomplete, err = s.IDs()
	if err != nil || !slices.Equal(complete, []int64{3, 5}) || len(incomplete) != 0 {
		t.Fatalf("after discard: IDs = %v, %v, %v; want [3 5] []", complete, incomplete, err)
	}
	if c, i, err := NewLocalStorage(filepath.Join(t.TempDir(), "none")).IDs(); err != nil || c != nil || i != nil {
		t.Fatalf("IDs of a missing root = %v, %v, %v; want nothing", c, i, err)
	}
}

// TestStorageByURI writes and restores a checkpoint through a URI of a
// registered scheme, as checkpoints on hdfs:// are: Load hands the
// checkpoint directory back as a URI that OpenRestore accepts, and messages
// name paths as URIs.
func TestStorageByURI(t *testing.T) {
	mem := vfs.NewStrictMem()
	vfs.Register("ckpt-test", func(authority string) (vfs.FS, error) {
		if authority != "cluster:1" {
			return nil, fmt.Errorf("unexpected authority %q", authority)
		}
		return mem, nil
	})
	const root = "ckpt-test://cluster:1/checkpoints/job"
	s, err := OpenStorage(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != root || s.Dir(7) != root+"/chk-7" {
		t.Fatalf("Root = %s, Dir(7) = %s", s.Root(), s.Dir(7))
	}
	writeCheckpoint(t, s, 7, true)
	if _, err := mem.Stat("/checkpoints/job/chk-7/" + MetadataFile); err != nil {
		t.Fatalf("metadata not on the registered file system: %v", err)
	}
	md, dir, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if md.ID != 7 || dir != root+"/chk-7" {
		t.Fatalf("Load = checkpoint %d in %s", md.ID, dir)
	}
	r, err := OpenRestore(dir, md, "map", 0, state.KeyGroupRange{Start: 0, End: 2})
	if err != nil {
		t.Fatal(err)
	}
	if es := readAll(t, r.Keyed()); len(es) != 1 || string(es[0].Key) != "7" {
		t.Fatalf("restored %v", es)
	}
	r.Close()
	if err := mem.Remove("/checkpoints/job/chk-7/map-0.state"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(root); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), root+"/chk-7/map-0.state") {
		t.Fatalf("Load with a task file missing: %v, want ErrCorrupt naming it as a URI", err)
	}
	if _, err := OpenStorage("nope-scheme://x/y"); err == nil || !strings.Contains(err.Error(), `scheme "nope-scheme"`) {
		t.Fatalf("OpenStorage of an unknown scheme: %v", err)
	}
}
