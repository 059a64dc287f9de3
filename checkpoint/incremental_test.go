package checkpoint

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
	"github.com/loom-yarn/loom/vfs/errorfs"
)

// The tests in this file run real LSM backends that checkpoint
// incrementally into a storage (an in-memory one where a crash matters):
// task "map" of two subtasks over incMaxP key groups, a value of incValueLen
// bytes per key.

const (
	incMaxP     = 16
	incKeys     = 1000
	incValueLen = 200
)

// incValue is key k's value at generation gen: incompressible, so that
// tables have a size.
func incValue(k, gen int64) []byte {
	b := make([]byte, 0, incValueLen+8)
	x := uint64(k)*0x9e3779b97f4a7c15 + uint64(gen)*0xbf58476d1ce4e5b9 + 1
	for len(b) < incValueLen {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b[:incValueLen]
}

// incTask is one subtask with its backend and its lineage of uploads.
type incTask struct {
	id  TaskID
	kgs state.KeyGroupRange
	b   state.Backend
	kc  *state.KeyContext[int64]
	v   state.ValueState[[]byte]
	inc *Incremental
}

// incJob is the job's two subtasks and the generation each key was last
// written at, by checkpoint: what a restore of that checkpoint must find.
type incJob struct {
	t     *testing.T
	tasks []*incTask
	gen   map[int64]int64
	// at holds a copy of gen per checkpoint id.
	at map[int64]map[int64]int64
}

func newIncJob(t *testing.T, s *Storage) *incJob {
	t.Helper()
	j := &incJob{t: t, gen: map[int64]int64{}, at: map[int64]map[int64]int64{}}
	local := t.TempDir()
	for sub := range 2 {
		kgs := state.RangeForSubtask(incMaxP, 2, sub)
		dir := filepath.Join(local, fmt.Sprintf("map-%d", sub))
		b, err := state.NewLSM(dir, kgs, incMaxP)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		kc := state.NewKeyContext(codec.Int64, incMaxP)
		v, err := state.NewValue(b, kc, "map/value", codec.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		j.tasks = append(j.tasks, &incTask{id: TaskID{"map", sub}, kgs: kgs, b: b, kc: kc, v: v,
			inc: NewIncremental(s, "map", sub, 2, kgs, dir)})
	}
	return j
}

// write sets keys at generation gen in the subtask owning each.
func (j *incJob) write(keys []int64, gen int64) {
	j.t.Helper()
	for _, k := range keys {
		for _, it := range j.tasks {
			it.kc.SetKey(k)
			if !it.kgs.Contains(it.kc.KeyGroup()) {
				continue
			}
			if err := it.v.Update(incValue(k, gen)); err != nil {
				j.t.Fatal(err)
			}
			j.gen[k] = gen
		}
	}
}

// all is every key; some is about 1% of them, different for each gen.
func all() []int64 {
	ks := make([]int64, incKeys)
	for i := range ks {
		ks[i] = int64(i)
	}
	return ks
}

func some(gen int64) []int64 {
	var ks []int64
	for i := int64(0); i < incKeys/100; i++ {
		ks = append(ks, (gen*131+i*37)%incKeys)
	}
	return ks
}

// snapshot takes subtask it's incremental snapshot of checkpoint id.
func (j *incJob) snapshot(it *incTask, id int64) (TaskSnapshot, error) {
	w, err := it.inc.Begin(id)
	if err != nil {
		return TaskSnapshot{}, err
	}
	if err := w.WriteOperatorState("src", fmt.Appendf(nil, "%v@%d", it.id, id)); err != nil {
		w.Abort()
		return TaskSnapshot{}, err
	}
	if err := w.WriteKeyedState(it.b); err != nil {
		w.Abort()
		return TaskSnapshot{}, err
	}
	j.at[id] = maps.Clone(j.gen)
	return w.Finish(context.Background())
}

// verify restores checkpoint md (in dir of fsys) at parallelism p and
// checks every key and each subtask's operator state.
func (j *incJob) verify(fsys vfs.FS, dir string, md *Metadata, p int) error {
	want := j.at[md.ID]
	if want == nil {
		return fmt.Errorf("checkpoint %d was never snapshotted", md.ID)
	}
	seen := 0
	for sub := range p {
		kgs := state.RangeForSubtask(incMaxP, p, sub)
		r, err := OpenRestoreFS(fsys, dir, md, "map", sub, kgs)
		if err != nil {
			return err
		}
		if p == 2 {
			if op, want := string(r.OperatorState("src")), fmt.Sprintf("map/%d@%d", sub, md.ID); op != want {
				r.Close()
				return fmt.Errorf("checkpoint %d subtask %d restored operator state %q, want %q", md.ID, sub, op, want)
			}
		}
		b, err := r.OpenLSM(filepath.Join(j.t.TempDir(), "restored"), incMaxP)
		r.Close()
		if err != nil {
			return err
		}
		kc := state.NewKeyContext(codec.Int64, incMaxP)
		v, err := state.NewValue(b, kc, "map/value", codec.Bytes)
		if err != nil {
			b.Close()
			return err
		}
		for k := range int64(incKeys) {
			kc.SetKey(k)
			if !kgs.Contains(kc.KeyGroup()) {
				continue
			}
			got, ok, err := v.Value()
			if err != nil {
				b.Close()
				return err
			}
			if g, had := want[k]; ok != had || (ok && !bytes.Equal(got, incValue(k, g))) {
				b.Close()
				return fmt.Errorf("checkpoint %d at parallelism %d: key %d restored (%v) wrong, want generation %d (%v)", md.ID, p, k, ok, g, had)
			}
			seen++
		}
		b.Close()
	}
	if seen != len(want) {
		return fmt.Errorf("checkpoint %d: %d keys restored, want %d", md.ID, seen, len(want))
	}
	return nil
}

// recTasks is the driver's Tasks: it records triggers and completions.
type recTasks struct {
	triggered []int64
	completed []int64
}

func (r *recTasks) Trigger(id int64, _ time.Time, _ []TaskID, _ *SavepointTrigger) {
	r.triggered = append(r.triggered, id)
}
func (r *recTasks) Complete(id int64) { r.completed = append(r.completed, id) }

var incStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newIncDriver(t *testing.T, s *Storage, tasks *recTasks, retain int, completed *int64) (*Driver, error) {
	t.Helper()
	ids := []TaskID{{"map", 0}, {"map", 1}}
	return NewDriver(s, tasks, DriverConfig{
		Coordinator: Config{Interval: time.Second, Timeout: time.Minute, Retain: retain, Tasks: ids, Sources: ids, TolerableFailures: TolerateAnyFailures},
		Job:         "j", GraphHash: "g",
		OnComplete: func(id int64, _ time.Duration, _ int64) {
			if completed != nil {
				*completed = id
			}
		},
	})
}

// trigger ticks the driver one interval on and returns the id it triggered.
func trigger(t *testing.T, d *Driver, tasks *recTasks, tick *int) int64 {
	t.Helper()
	if *tick == 0 {
		d.Tick(incStart)
	}
	*tick++
	n := len(tasks.triggered)
	d.Tick(incStart.Add(time.Duration(*tick) * time.Second))
	if len(tasks.triggered) != n+1 {
		t.Fatalf("tick %d triggered %v", *tick, tasks.triggered[n:])
	}
	return tasks.triggered[n]
}

// checkpointAll triggers a checkpoint and has both subtasks acknowledge it.
func (j *incJob) checkpointAll(d *Driver, tasks *recTasks, tick *int) (int64, error) {
	id := trigger(j.t, d, tasks, tick)
	for _, it := range j.tasks {
		snap, err := j.snapshot(it, id)
		if err != nil {
			d.Decline(id, it.id, err.Error())
			return id, err
		}
		d.Ack(id, it.id, snap)
	}
	return id, nil
}

// sharedOn lists the files under root/shared on fsys.
func sharedOn(t *testing.T, fsys vfs.FS, root string) []string {
	t.Helper()
	var out []string
	top := path.Join(root, SharedDir)
	dirs, err := fsys.ReadDir(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		files, err := fsys.ReadDir(path.Join(top, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			out = append(out, SharedDir+"/"+d.Name()+"/ (empty)")
		}
		for _, f := range files {
			out = append(out, SharedDir+"/"+d.Name()+"/"+f.Name())
		}
	}
	return out
}

// referencedOn lists the shared files the complete checkpoints reference.
func referencedOn(t *testing.T, fsys vfs.FS, root string) []string {
	t.Helper()
	s := NewStorage(fsys, root)
	complete, _, err := s.IDs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range complete {
		md, err := readMetadata(fsys, s.dir(id), "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sharedPaths(md.Tasks)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func snapOf(t *testing.T, fsys vfs.FS, root string, id int64, sub int) TaskSnapshot {
	t.Helper()
	md, err := readMetadata(fsys, path.Join(root, dirName(id)), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range md.Tasks {
		if ts.Subtask == sub {
			return ts
		}
	}
	t.Fatalf("checkpoint %d has no subtask %d", id, sub)
	return TaskSnapshot{}
}

// TestIncrementalDriverSharedFiles drives incremental checkpoints through
// a Driver and checks the shared files after each event: a later checkpoint
// references the tables an earlier one uploaded; retention deletes those
// only the discarded one held; an aborted checkpoint's uploads, a late
// acknowledgement's and those of the checkpoint in flight when the driver
// stops are deleted; a failed metadata write keeps its checkpoint's uploads
// for the next driver, whose start rebuilds the registry and sweeps what no
// retained checkpoint references.
func TestIncrementalDriverSharedFiles(t *testing.T) {
	mem := vfs.NewStrictMem()
	efs := errorfs.Wrap(mem)
	const root = "/ck"
	s := NewStorage(efs, root)
	tasks := &recTasks{}
	d, err := newIncDriver(t, s, tasks, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := newIncJob(t, s)
	tick := 0
	exact := func(what string) {
		t.Helper()
		if got, want := sharedOn(t, mem, root), referencedOn(t, mem, root); !slices.Equal(got, want) {
			t.Fatalf("%s: storage holds %v, the retained checkpoints reference %v", what, got, want)
		}
	}

	j.write(all(), 1)
	if _, err := j.checkpointAll(d, tasks, &tick); err != nil {
		t.Fatal(err)
	}
	first := snapOf(t, mem, root, 1, 0)
	if len(first.Shared) == 0 || first.Size != first.StateSize {
		t.Fatalf("checkpoint 1 of map/0: %d shared files, %d bytes written of %d: the first checkpoint uploads everything", len(first.Shared), first.Size, first.StateSize)
	}
	for gen := int64(2); gen <= 3; gen++ {
		j.write(some(gen), gen)
		if _, err := j.checkpointAll(d, tasks, &tick); err != nil {
			t.Fatal(err)
		}
	}
	// Checkpoint 2 referenced checkpoint 1's tables and uploaded only its
	// new one; with two retained, checkpoint 1 is gone, and with it only
	// what 2 and 3 do not reference.
	second := snapOf(t, mem, root, 2, 0)
	reused := 0
	for _, f := range second.Shared {
		if slices.Contains(first.Shared, f) {
			reused++
		}
	}
	if reused == 0 || second.Size >= second.StateSize/4 {
		t.Fatalf("checkpoint 2 of map/0 reuses %d of checkpoint 1's %d tables and wrote %d bytes of %d", reused, len(first.Shared), second.Size, second.StateSize)
	}
	if ids, _, _ := s.IDs(); !slices.Equal(ids, []int64{2, 3}) {
		t.Fatalf("retained %v, want [2 3]", ids)
	}
	exact("after retention discarded checkpoint 1")

	// Checkpoint 4: subtask 0 acknowledges, subtask 1 declines.
	j.write(some(4), 4)
	id := trigger(t, d, tasks, &tick)
	snap, err := j.snapshot(j.tasks[0], id)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Size == snap.FileSize {
		t.Fatal("checkpoint 4 uploaded no table; the test needs one to see it deleted")
	}
	d.Ack(id, j.tasks[0].id, snap)
	d.Decline(id, j.tasks[1].id, "injected")
	exact("after checkpoint 4 was declined")

	// Checkpoint 5: subtask 1 declines first; subtask 0's snapshot comes
	// late, and its uploads are deleted all the same.
	j.write(some(5), 5)
	id = trigger(t, d, tasks, &tick)
	d.Decline(id, j.tasks[1].id, "injected")
	snap, err = j.snapshot(j.tasks[0], id)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Size == snap.FileSize {
		t.Fatal("checkpoint 5 uploaded no table: the aborted checkpoint 4's uploads must not be reused")
	}
	d.Ack(id, j.tasks[0].id, snap)
	exact("after a late acknowledgement of checkpoint 5")

	// Checkpoint 6 completes; its metadata lists what exists.
	j.write(some(6), 6)
	if id, err = j.checkpointAll(d, tasks, &tick); err != nil {
		t.Fatal(err)
	}
	exact("after checkpoint 6")
	md, dir, err := LoadFS(mem, root)
	if err != nil || md.ID != id {
		t.Fatalf("Load = checkpoint %v, %v; want %d", md, err, id)
	}
	for _, p := range []int{2, 3, 1} {
		if err := j.verify(mem, dir, md, p); err != nil {
			t.Fatal(err)
		}
	}

	// Checkpoint 7's metadata write fails: its uploads stay (a task may
	// have seen the metadata), until the next driver sweeps them.
	j.write(some(7), 7)
	id = trigger(t, d, tasks, &tick)
	snap0, err := j.snapshot(j.tasks[0], id)
	if err != nil {
		t.Fatal(err)
	}
	d.Ack(id, j.tasks[0].id, snap0)
	snap1, err := j.snapshot(j.tasks[1], id)
	if err != nil {
		t.Fatal(err)
	}
	// WriteMetadata: mkdir, syncdir, then the create of its temporary file.
	efs.FailAt(efs.Steps() + 3)
	d.Ack(id, j.tasks[1].id, snap1)
	if !efs.Reached() {
		t.Fatal("the metadata write of checkpoint 7 did not fail")
	}
	if ids, _, _ := s.IDs(); !slices.Equal(ids, []int64{3, 6}) {
		t.Fatalf("retained %v after a failed metadata write, want [3 6]", ids)
	}
	left := len(sharedOn(t, mem, root)) - len(referencedOn(t, mem, root))
	if left == 0 {
		t.Fatal("checkpoint 7's uploads were deleted after its metadata write failed")
	}

	// Checkpoint 8 is in flight when the driver stops.
	j.write(some(8), 8)
	id = trigger(t, d, tasks, &tick)
	snap, err = j.snapshot(j.tasks[0], id)
	if err != nil {
		t.Fatal(err)
	}
	d.Ack(id, j.tasks[0].id, snap)
	before := len(sharedOn(t, mem, root))
	d.Stop()
	if after := len(sharedOn(t, mem, root)); after != before-countUploads(snap, id) {
		t.Fatalf("stopping with checkpoint 8 in flight left %d shared files of %d; want its %d uploads deleted", after, before, countUploads(snap, id))
	}

	// A crash leftover and an empty directory; the next driver sweeps
	// them and checkpoint 7's uploads, and keeps what 3 and 6 reference.
	mustWrite(t, mem, root+"/shared/map-0/0123456789abcdef-99-000999.sst", "leftover")
	if err := mem.MkdirAll(root + "/shared/map-7"); err != nil {
		t.Fatal(err)
	}
	d2, err := newIncDriver(t, NewStorage(mem, root), &recTasks{}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	exact("after a new driver swept the storage")
	if d2.SharedFiles() != len(referencedOn(t, mem, root)) {
		t.Fatalf("rebuilt registry holds %d files, the retained checkpoints reference %d", d2.SharedFiles(), len(referencedOn(t, mem, root)))
	}
	if err := j.verify(mem, dir, md, 2); err != nil {
		t.Fatalf("after the sweep: %v", err)
	}
}

// countUploads is how many of snap's shared files checkpoint id uploaded.
func countUploads(snap TaskSnapshot, id int64) int {
	var n int
	for _, f := range snap.Shared {
		if strings.Contains(path.Base(f.Path), fmt.Sprintf("-%d-", id)) {
			n++
		}
	}
	return n
}

func mustWrite(t *testing.T, fsys vfs.FS, p, data string) {
	t.Helper()
	if err := fsys.MkdirAll(path.Dir(p)); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(data))
	f.Sync()
	f.Close()
	fsys.SyncDir(path.Dir(p))
}

// TestIncrementalDamagedSharedFile: a table missing or truncated is refused
// naming the file, and Load of the root falls back to the previous
// checkpoint when only the latest lists it; a restore that meets it anyway
// (the file vanished after Load) refuses too.
func TestIncrementalDamagedSharedFile(t *testing.T) {
	for _, damage := range []string{"truncated", "missing"} {
		t.Run(damage, func(t *testing.T) {
			mem := vfs.NewStrictMem()
			const root = "/ck"
			s := NewStorage(mem, root)
			tasks := &recTasks{}
			d, err := newIncDriver(t, s, tasks, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			j := newIncJob(t, s)
			tick := 0
			j.write(all(), 1)
			for gen := int64(1); gen <= 2; gen++ {
				if gen > 1 {
					j.write(some(gen), gen)
				}
				if _, err := j.checkpointAll(d, tasks, &tick); err != nil {
					t.Fatal(err)
				}
			}
			// A table only checkpoint 2 lists (it uploaded it).
			var victim SharedFile
			for _, f := range snapOf(t, mem, root, 2, 1).Shared {
				if strings.Contains(f.Path, "-2-") {
					victim = f
				}
			}
			if victim.Path == "" {
				t.Fatal("checkpoint 2 uploaded nothing")
			}
			p := root + "/" + victim.Path
			if damage == "missing" {
				if err := mem.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else if err := mem.Truncate(p, victim.Size/2); err != nil {
				t.Fatal(err)
			}
			md, dir, err := LoadFS(mem, root)
			if err != nil {
				t.Fatal(err)
			}
			if md.ID != 1 || len(md.Skipped) != 1 || !strings.Contains(md.Skipped[0], p) {
				t.Fatalf("Load = checkpoint %d, skipped %q; want checkpoint 1, having refused 2 naming %s", md.ID, md.Skipped, p)
			}
			if err := j.verify(mem, dir, md, 2); err != nil {
				t.Fatal(err)
			}
			if _, _, err := LoadFS(mem, root+"/chk-2"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load of chk-2: %v, want ErrCorrupt naming %s", err, p)
			}
			// Damaged after Load: the restore itself refuses.
			md2, err := readMetadata(mem, root+"/chk-2", "")
			if err != nil {
				t.Fatal(err)
			}
			r, err := OpenRestoreFS(mem, root+"/chk-2", md2, "map", 1, state.RangeForSubtask(incMaxP, 2, 1))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.OpenLSM(filepath.Join(t.TempDir(), "b"), incMaxP); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Fatalf("OpenLSM of a checkpoint with a %s table: %v, want ErrCorrupt naming %s", damage, err, p)
			}
		})
	}
}

// TestIncrementalPrivateFileCorrupt: a flipped byte in a private file's
// block of a task file is caught by its checksum, naming the task file.
func TestIncrementalPrivateFileCorrupt(t *testing.T) {
	mem := vfs.NewStrictMem()
	s := NewStorage(mem, "/ck")
	j := newIncJob(t, s)
	j.write(all(), 1)
	var snaps []TaskSnapshot
	for _, it := range j.tasks {
		snap, err := j.snapshot(it, 1)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snap)
	}
	md := Metadata{Job: "j", GraphHash: "g", ID: 1, Tasks: snaps}
	if err := s.WriteMetadata(md); err != nil {
		t.Fatal(err)
	}
	p := "/ck/chk-1/" + snaps[0].File
	tf, err := openTaskFile(mem, p)
	if err != nil {
		t.Fatal(err)
	}
	if tf.version != fileVersionFiles || len(tf.files) == 0 || len(tf.chunks) != 0 {
		t.Fatalf("task file of an incremental snapshot: version %d, %d private files, %d chunks", tf.version, len(tf.files), len(tf.chunks))
	}
	off := tf.files[len(tf.files)-1].off + 3
	tf.Close()
	b, err := vfs.ReadFile(mem, p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	mustWrite(t, mem, p, string(b))
	r, err := OpenRestoreFS(mem, "/ck/chk-1", &md, "map", 0, j.tasks[0].kgs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.OpenLSM(filepath.Join(t.TempDir(), "b"), incMaxP); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Fatalf("OpenLSM with a damaged private file: %v, want ErrCorrupt naming %s", err, p)
	}
	if _, _, err := r.Keyed().Next(); err == nil || !strings.Contains(err.Error(), "OpenLSM or RestoreInto") {
		t.Fatalf("Keyed of an incremental snapshot: %v, want a refusal saying what to use", err)
	}
}

// TestIncrementalRestoreIntoHeap restores an incremental checkpoint into
// the heap backend, at another parallelism.
func TestIncrementalRestoreIntoHeap(t *testing.T) {
	mem := vfs.NewStrictMem()
	s := NewStorage(mem, "/ck")
	j := newIncJob(t, s)
	j.write(all(), 1)
	var snaps []TaskSnapshot
	for _, it := range j.tasks {
		snap, err := j.snapshot(it, 1)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snap)
	}
	md := &Metadata{Job: "j", GraphHash: "g", ID: 1, Tasks: snaps}
	seen := 0
	for sub := range 3 {
		kgs := state.RangeForSubtask(incMaxP, 3, sub)
		r, err := OpenRestoreFS(mem, "/ck/chk-1", md, "map", sub, kgs)
		if err != nil {
			t.Fatal(err)
		}
		h := state.NewHeap(kgs, incMaxP)
		err = r.RestoreInto(h, filepath.Join(t.TempDir(), "scratch"), incMaxP)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		kc := state.NewKeyContext(codec.Int64, incMaxP)
		v, err := state.NewValue(h, kc, "map/value", codec.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for k := range int64(incKeys) {
			kc.SetKey(k)
			if !kgs.Contains(kc.KeyGroup()) {
				continue
			}
			got, ok, err := v.Value()
			if err != nil || !ok || !bytes.Equal(got, incValue(k, 1)) {
				t.Fatalf("heap subtask %d key %d: %v %v", sub, k, ok, err)
			}
			seen++
		}
		h.Close()
	}
	if seen != incKeys {
		t.Fatalf("restored %d keys into the heap, want %d", seen, incKeys)
	}
}

// TestIncrementalCrashAtEveryStep crashes a driver and its tasks taking
// three incremental checkpoints (one retained) at every step of the
// storage. After the crash the next driver's sweep leaves exactly what the
// retained checkpoints reference, and Load finds the last completed
// checkpoint (or, after a process crash, possibly the one whose metadata
// landed) with every table it lists, restoring to exactly its state.
func TestIncrementalCrashAtEveryStep(t *testing.T) {
	for _, mode := range crashModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			steps := 0
			for k := 1; ; k++ {
				if k > 2000 {
					t.Fatal("no end to the steps")
				}
				mem := vfs.NewStrictMem()
				efs := errorfs.Wrap(mem)
				crash := mem.Crash
				if !mode.machine {
					crash = nil
				}
				efs.CrashAt(k, crash)
				const root = "/ck"
				var completed int64
				tasks := &recTasks{}
				s := NewStorage(efs, root)
				d, err := newIncDriver(t, s, tasks, 1, &completed)
				if err != nil {
					t.Fatal(err)
				}
				j := newIncJob(t, s)
				tick := 0
				j.write(all(), 1)
				for gen := int64(1); gen <= 3 && !efs.Reached(); gen++ {
					if gen > 1 {
						j.write(some(gen), gen)
					}
					j.checkpointAll(d, tasks, &tick)
				}
				if !efs.Reached() {
					if completed != 3 {
						t.Fatalf("run without a crash completed %d checkpoints", completed)
					}
					mem.Crash()
					steps = k - 1
				}
				op := "none"
				if efs.Reached() {
					op = efs.Log()[k-1].String()
				}
				if _, err := newIncDriver(t, NewStorage(mem, root), &recTasks{}, 1, nil); err != nil {
					t.Fatalf("crash at step %d (%s): new driver: %v", k, op, err)
				}
				if got, want := sharedOn(t, mem, root), referencedOn(t, mem, root); !slices.Equal(got, want) {
					t.Errorf("crash at step %d (%s): after the sweep the storage holds %v, the retained checkpoints reference %v", k, op, got, want)
				}
				md, dir, err := LoadFS(mem, root)
				switch {
				case err != nil && completed == 0 && !errors.Is(err, ErrCorrupt):
					// Nothing completed, nothing to find (not even the root).
				case err != nil:
					t.Errorf("crash at step %d (%s): checkpoint %d completed, but Load fails: %v", k, op, completed, err)
				case md.ID != completed && (mode.machine || md.ID != completed+1):
					t.Errorf("crash at step %d (%s): Load found checkpoint %d, the last completed is %d", k, op, md.ID, completed)
				default:
					if err := j.verify(mem, dir, md, 2); err != nil {
						t.Errorf("crash at step %d (%s): %v", k, op, err)
					}
				}
				if steps > 0 {
					break
				}
			}
			if steps < 60 {
				t.Fatalf("three incremental checkpoints took only %d steps", steps)
			}
			t.Logf("%d steps, each crashed", steps)
		})
	}
}

// TestIncrementalFormatRefusals: the two kinds of task file do not mix, and
// metadata naming shared files outside the layout is refused rather than
// deleted one day.
func TestIncrementalFormatRefusals(t *testing.T) {
	s := NewStorage(vfs.NewStrictMem(), "/ck")
	full, err := s.NewTaskWriter(1, "map", 0, 1, state.KeyGroupRange{Start: 0, End: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Abort()
	if err := full.WriteFile("MANIFEST-000001", strings.NewReader("x")); err == nil {
		t.Error("a full snapshot's task file took a private file")
	}
	if err := full.Reference(SharedFile{Path: "shared/map-0/a-1-000001.sst", Size: 1}, true); err == nil {
		t.Error("a full snapshot referenced a shared file")
	}
	inc := NewIncremental(s, "map", 0, 1, state.KeyGroupRange{Start: 0, End: 4}, t.TempDir()+"/b")
	w, err := inc.Begin(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.WriteEntry(state.Entry{KeyGroup: 0, State: "s", Key: []byte("k")}); err == nil || !strings.Contains(err.Error(), "backend's files") {
		t.Errorf("an incremental snapshot took an entry: %v", err)
	}
	if err := w.WriteKeyedState(state.NewHeap(state.KeyGroupRange{Start: 0, End: 4}, 4)); err == nil || !strings.Contains(err.Error(), "heap") {
		t.Errorf("an incremental snapshot of the heap backend: %v, want a refusal naming it", err)
	}
	if _, err := w.Finish(context.Background()); err == nil {
		t.Error("an incremental snapshot without keyed state finished")
	}
	for _, p := range []string{"../x/a-1-b.sst", "/ck/shared/m/a-1-b.sst", "shared/a-1-b.sst", "shared/m/n/a-1-b.sst", `shared/m\n/a-1-b.sst`, "other/m/a-1-b.sst"} {
		md := Metadata{Version: MetadataVersion, ID: 1, Tasks: []TaskSnapshot{{Task: "map", Parallelism: 1, File: "map-0.state", Incremental: true,
			Shared: []SharedFile{{Path: p, Size: 1}}}}}
		if err := md.validate(); err == nil {
			t.Errorf("metadata listing shared file %q validated", p)
		}
	}
	if _, err := sharedLocalName("shared/m/a-1-.."); err == nil {
		t.Error(`shared file "a-1-.." named a local file ".."`)
	}
}
