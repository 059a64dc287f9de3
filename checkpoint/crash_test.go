package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
	"github.com/loom-yarn/loom/vfs/errorfs"
)

// The tests in this file enumerate every step (every mutating file-system
// operation, see package errorfs) of writing three checkpoints — task files,
// _metadata, discarding the previous checkpoint — and crash or fail at each.

const crashRoot = "/ckpt"

// crashKGS is the key-group range subtask sub of 2 owns, of 8.
func crashKGS(sub int) state.KeyGroupRange {
	return state.KeyGroupRange{Start: sub * 4, End: sub*4 + 4}
}

// crashContents is what subtask sub writes into checkpoint id: keyed
// entries, ordered by key group, and an operator state. Subtask 1 writes
// more than the task writer's buffer, so that its file takes several writes.
func crashContents(id int64, sub int) ([]state.Entry, []byte) {
	kgs := crashKGS(sub)
	var es []state.Entry
	for kg := kgs.Start; kg < kgs.End; kg++ {
		n := 3
		if sub == 1 {
			n = 60
		}
		for j := 0; j < n; j++ {
			v := bytes.Repeat([]byte{byte(id), byte(kg), byte(j)}, 1+sub*200)
			es = append(es, state.Entry{KeyGroup: kg, State: "count", Key: fmt.Appendf(nil, "k%d-%d", kg, j), Value: v})
		}
	}
	return es, fmt.Appendf(nil, "position of subtask %d at checkpoint %d", sub, id)
}

// writeCheckpoints writes checkpoints from..to of a task with two
// subtasks, keeping one: once checkpoint id is complete, id-1 is discarded.
// completed is set to each id whose WriteMetadata returned nil.
func writeCheckpoints(s *Storage, from, to int64, completed *int64) error {
	for id := from; id <= to; id++ {
		var snaps []TaskSnapshot
		for sub := 0; sub < 2; sub++ {
			w, err := s.NewTaskWriter(id, "map", sub, 2, crashKGS(sub))
			if err != nil {
				return err
			}
			es, op := crashContents(id, sub)
			for _, e := range es {
				if err := w.WriteEntry(e); err != nil {
					w.Abort()
					return err
				}
			}
			if err := w.WriteOperatorState("src", op); err != nil {
				w.Abort()
				return err
			}
			snap, err := w.Close()
			if err != nil {
				return err
			}
			snaps = append(snaps, snap)
		}
		if err := s.WriteMetadata(Metadata{Job: "j", GraphHash: "g", ID: id, Tasks: snaps}); err != nil {
			return err
		}
		*completed = id
		if id > 1 {
			if err := s.Discard(id - 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// verifyCheckpoint checks what a restart finds on fsys when checkpoint
// completed was the last whose WriteMetadata returned: that checkpoint, or
// the one after it if its metadata landed before the crash (Load may find
// it, the metadata being the commit point), and in either case every byte
// its subtasks wrote. With no checkpoint found, found is 0.
func verifyCheckpoint(fsys vfs.FS, completed int64) (found int64, err error) {
	md, dir, err := LoadFS(fsys, crashRoot)
	if err != nil {
		if completed == 0 && !errors.Is(err, ErrCorrupt) {
			return 0, nil // nothing to find: not found, but not corrupt either
		}
		return 0, fmt.Errorf("checkpoint %d completed, but Load fails: %w", completed, err)
	}
	if md.ID != completed && md.ID != completed+1 {
		return 0, fmt.Errorf("Load found checkpoint %d, want the last completed one, %d, or the one in flight", md.ID, completed)
	}
	for sub := 0; sub < 2; sub++ {
		r, err := OpenRestoreFS(fsys, dir, md, "map", sub, crashKGS(sub))
		if err != nil {
			return 0, fmt.Errorf("checkpoint %d: %w", md.ID, err)
		}
		wantEntries, wantOp := crashContents(md.ID, sub)
		var got []state.Entry
		k := r.Keyed()
		for {
			e, ok, err := k.Next()
			if err != nil {
				r.Close()
				return 0, fmt.Errorf("checkpoint %d subtask %d: %w", md.ID, sub, err)
			}
			if !ok {
				break
			}
			got = append(got, e)
		}
		op := r.OperatorState("src")
		r.Close()
		if !slices.Equal(entryStrings(got), entryStrings(wantEntries)) || !bytes.Equal(op, wantOp) {
			return 0, fmt.Errorf("checkpoint %d subtask %d restored %d entries and %q; want %d entries and %q",
				md.ID, sub, len(got), op, len(wantEntries), wantOp)
		}
	}
	return md.ID, nil
}

// continueAfter checks that storage left by a crash or failure, where Load
// found checkpoint completed (0 for none), still works: incomplete
// checkpoints are removed and the next ones complete.
func continueAfter(fsys vfs.FS, completed int64) error {
	s := NewStorage(fsys, crashRoot)
	if err := s.RemoveIncomplete(); err != nil {
		return fmt.Errorf("remove incomplete: %w", err)
	}
	ids, incomplete, err := s.IDs()
	if err != nil {
		return err
	}
	if len(incomplete) != 0 || (completed > 0 && !slices.Contains(ids, completed)) {
		return fmt.Errorf("after RemoveIncomplete: complete %v, incomplete %v; want %d among the complete", ids, incomplete, completed)
	}
	var done int64
	last := max(completed+1, 3)
	if err := writeCheckpoints(s, completed+1, last, &done); err != nil {
		return fmt.Errorf("checkpoints after %d: %w", completed, err)
	}
	_, err = verifyCheckpoint(fsys, last)
	return err
}

var crashModes = []struct {
	name    string
	machine bool // Crash the strict file system: unsynced changes are lost
}{
	{"machine crash", true},
	{"process crash", false},
}

// TestCheckpointCrashAtEveryStep crashes the writing of three checkpoints
// at every step. After the crash, Load must find exactly the last checkpoint
// whose WriteMetadata returned, whole — never a half-written one, never an
// older one — and the storage must go on working.
func TestCheckpointCrashAtEveryStep(t *testing.T) {
	for _, mode := range crashModes {
		t.Run(mode.name, func(t *testing.T) {
			steps := enumerateCheckpointCrashes(t, func(m *vfs.MemFS) vfs.FS { return m }, mode.machine, func(k int, op string, err error) {
				t.Errorf("crash at step %d (%s): %v", k, op, err)
			})
			if steps < 60 {
				t.Fatalf("writing three checkpoints took only %d steps", steps)
			}
			t.Logf("%d steps, each crashed", steps)
		})
	}
}

// enumerateCheckpointCrashes runs writeCheckpoints with a crash at step k
// for k = 1, 2, ... until it completes without reaching k, reporting every
// violation through bad, and returns the number of steps of a whole run.
// wrap may interpose on the strict file system under the crashing one.
func enumerateCheckpointCrashes(t *testing.T, wrap func(*vfs.MemFS) vfs.FS, machine bool, bad func(k int, op string, err error)) int {
	t.Helper()
	for k := 1; k < 10000; k++ {
		mem := vfs.NewStrictMem()
		efs := errorfs.Wrap(wrap(mem))
		crash := mem.Crash
		if !machine {
			crash = nil
		}
		efs.CrashAt(k, crash)
		var completed int64
		err := writeCheckpoints(NewStorage(efs, crashRoot), 1, 3, &completed)
		if !efs.Reached() {
			if err != nil {
				t.Fatalf("run without a crash failed: %v", err)
			}
			// Complete: all of it must be durable.
			mem.Crash()
			if found, err := verifyCheckpoint(mem, 3); err != nil || found != 3 {
				bad(k, "machine crash after the last step", fmt.Errorf("found checkpoint %d: %v", found, err))
			}
			return k - 1
		}
		op := efs.Log()[k-1].String()
		if !errors.Is(err, errorfs.ErrInjected) {
			t.Fatalf("crash at step %d (%s): error %v, want the injected crash", k, op, err)
		}
		found, err := verifyCheckpoint(mem, completed)
		if err != nil {
			bad(k, op, fmt.Errorf("%w\nfile system after the crash:\n%s", err, mem))
			continue
		}
		if machine && found != completed {
			// A crash drops the rename of _metadata unless its SyncDir
			// returned, and then WriteMetadata returned too.
			bad(k, op, fmt.Errorf("found checkpoint %d, whose WriteMetadata never returned", found))
		}
		if err := continueAfter(mem, found); err != nil {
			bad(k, op, err)
		}
	}
	t.Fatal("no end to the steps")
	return 0
}

// TestCheckpointCrashTestCatchesLostSyncs shows that the enumeration above
// can fail: with task files and metadata never really synced, some crash
// leaves a _metadata that Load must refuse, and it does so naming the file.
func TestCheckpointCrashTestCatchesLostSyncs(t *testing.T) {
	var refusals []error
	enumerateCheckpointCrashes(t, func(m *vfs.MemFS) vfs.FS { return noFileSync{m} }, true, func(k int, op string, err error) {
		refusals = append(refusals, err)
	})
	if len(refusals) == 0 {
		t.Fatal("no crash step noticed that file syncs did nothing")
	}
	for _, err := range refusals {
		if errors.Is(err, ErrCorrupt) && strings.Contains(err.Error(), crashRoot+"/chk-") {
			return
		}
	}
	t.Fatalf("no violation was a clear refusal naming the file; first: %v", refusals[0])
}

// temporaries lists the hidden files below dir: the temporary names task
// files and metadata are written under.
func temporaries(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	infos, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fi := range infos {
		p := dir + "/" + fi.Name()
		if fi.IsDir() {
			out = append(out, temporaries(t, fsys, p)...)
		} else if strings.HasPrefix(fi.Name(), ".") {
			out = append(out, p)
		}
	}
	return out
}

// noFileSync is a file system whose files' Sync does nothing: the bug the
// crash tests exist to catch.
type noFileSync struct{ vfs.FS }

func (n noFileSync) Create(name string) (vfs.File, error) {
	f, err := n.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return noSync{f}, nil
}

type noSync struct{ vfs.File }

func (noSync) Sync() error { return nil }

// TestCheckpointFailureAtEveryStep fails each step of writing three
// checkpoints once. The write must return a clear error (the injected one,
// naming a path of the storage), leave the last completed checkpoint as what
// Load finds (no partial commit), and the next checkpoints must complete.
func TestCheckpointFailureAtEveryStep(t *testing.T) {
	k := 1
	for ; k < 10000; k++ {
		mem := vfs.NewStrictMem()
		efs := errorfs.Wrap(mem)
		efs.FailAt(k)
		s := NewStorage(efs, crashRoot)
		var completed int64
		err := writeCheckpoints(s, 1, 3, &completed)
		if !efs.Reached() {
			if err != nil {
				t.Fatalf("run without a failure failed: %v", err)
			}
			break
		}
		op := efs.Log()[k-1].String()
		if !errors.Is(err, errorfs.ErrInjected) || !strings.Contains(err.Error(), crashRoot+"/chk-") {
			t.Errorf("failure at step %d (%s): error %v, want the injected failure naming the checkpoint's files", k, op, err)
			continue
		}
		found, err := verifyCheckpoint(mem, completed)
		if err != nil || found != completed {
			t.Errorf("failure at step %d (%s): found checkpoint %d, want %d: %v\nfile system:\n%s", k, op, found, completed, err, mem)
			continue
		}
		if tmp := temporaries(t, mem, crashRoot); len(tmp) > 0 {
			t.Errorf("failure at step %d (%s) left temporary files %v", k, op, tmp)
		}
		if err := continueAfter(efs, completed); err != nil {
			t.Errorf("failure at step %d (%s), then going on: %v", k, op, err)
		}
	}
	t.Logf("%d steps, each failed once", k-1)
}
