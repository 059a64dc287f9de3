package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
	"github.com/loom-yarn/loom/vfs/errorfs"
)

// The tests in this file run a small job — records rec-0 .. rec-9 into the
// file sink, a checkpoint after every third record in real checkpoint
// storage, publishing at the end — on the strict in-memory file system, and
// crash or fail it at every step (every mutating file-system operation; see
// package errorfs), then restore it from what the crash left.

const (
	crashOut     = "/out"
	crashCkpt    = "/ckpt"
	crashRecords = 10
	crashEvery   = 3
)

// sinkJob is one attempt of the job on fsys.
type sinkJob struct {
	fsys vfs.FS
	// completed is the last checkpoint whose metadata was written.
	completed int64
}

// expectedOutput is the sink's output after the first n records.
func expectedOutput(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "rec-%d\n", i)
	}
	return b.String()
}

// restorePoint is what a restart finds in checkpoint storage: the latest
// complete checkpoint's id, the sink's state and the source's position.
// id is 0 when there is no checkpoint to restore.
func restorePoint(fsys vfs.FS) (id int64, sinkState []byte, position int, err error) {
	complete, _, err := checkpoint.NewStorage(fsys, crashCkpt).IDs()
	if err != nil || len(complete) == 0 {
		return 0, nil, 0, err
	}
	md, dir, err := checkpoint.LoadFS(fsys, crashCkpt)
	if err != nil {
		return 0, nil, 0, err
	}
	r, err := checkpoint.OpenRestoreFS(fsys, dir, md, "sink", 0, state.KeyGroupRange{})
	if err != nil {
		return 0, nil, 0, err
	}
	defer r.Close()
	pos, n := binary.Varint(r.OperatorState("source"))
	if n <= 0 || pos < 0 || pos > crashRecords {
		return 0, nil, 0, fmt.Errorf("checkpoint %d: bad source position %x", md.ID, r.OperatorState("source"))
	}
	return md.ID, r.OperatorState("sink"), int(pos), nil
}

// run is one attempt: restore from the latest complete checkpoint, if any,
// write the records after its position, checkpoint and publish.
func (j *sinkJob) run() error {
	st := checkpoint.NewStorage(j.fsys, crashCkpt)
	if err := st.RemoveIncomplete(); err != nil {
		return err
	}
	id, restored, pos, err := restorePoint(j.fsys)
	if err != nil {
		return err
	}
	sink := SinkOn(j.fsys, crashOut, Lines)
	if err := sink.Prepare(id == 0); err != nil {
		return err
	}
	w, err := sink.NewWriter(0, 1)
	if err != nil {
		return err
	}
	if err := w.Open(&task.Context{Restored: restored}); err != nil {
		return err
	}
	defer w.Close()
	next := id + 1
	for i := pos; i < crashRecords; i++ {
		b := task.NewBatch[string](1)
		b.Append(task.NoTimestamp, fmt.Sprintf("rec-%d", i))
		if err := w.Write(b); err != nil {
			return err
		}
		if (i+1)%crashEvery == 0 {
			if err := j.checkpoint(st, next, w, i+1); err != nil {
				return err
			}
			next++
		}
	}
	return w.Finish()
}

// checkpoint takes checkpoint id as the engine would: the sink's snapshot
// and the source's position into a task file, the metadata, then the
// previous checkpoint discarded.
func (j *sinkJob) checkpoint(st *checkpoint.Storage, id int64, w task.SinkWriter[string], pos int) error {
	snap, err := w.Snapshot(id)
	if err != nil {
		return err
	}
	tw, err := st.NewTaskWriter(id, "sink", 0, 1, state.KeyGroupRange{})
	if err != nil {
		return err
	}
	if err := tw.WriteOperatorState("sink", snap); err != nil {
		tw.Abort()
		return err
	}
	if err := tw.WriteOperatorState("source", binary.AppendVarint(nil, int64(pos))); err != nil {
		tw.Abort()
		return err
	}
	ts, err := tw.Close()
	if err != nil {
		return err
	}
	if err := st.WriteMetadata(checkpoint.Metadata{Job: "sink-crash", GraphHash: "g", ID: id, Tasks: []checkpoint.TaskSnapshot{ts}}); err != nil {
		return err
	}
	j.completed = id
	if id > 1 {
		return st.Discard(id - 1)
	}
	return nil
}

// checkCommitted checks what a crash or failure left, given the last
// checkpoint whose metadata was written: the checkpoint a restart finds is
// that one (or, in a process crash, the one in flight if its metadata
// landed), and the sink's file holds at least the length that checkpoint
// recorded, byte for byte the output of the records before its position.
func checkCommitted(fsys vfs.FS, completed int64, exact bool) error {
	id, sinkState, pos, err := restorePoint(fsys)
	if err != nil {
		return fmt.Errorf("restart point: %w", err)
	}
	if id != completed && (exact || id != completed+1) {
		return fmt.Errorf("a restart finds checkpoint %d, but the last completed one is %d", id, completed)
	}
	if id == 0 {
		return nil
	}
	st, err := decodeSinkState(sinkState)
	if err != nil {
		return err
	}
	name, length := st.own.name, st.own.length
	want := expectedOutput(pos)
	if length != int64(len(want)) {
		return fmt.Errorf("checkpoint %d recorded %d bytes of output at position %d, want %d", id, length, pos, len(want))
	}
	data, err := vfs.ReadFile(fsys, crashOut+"/"+name)
	if errors.Is(err, iofs.ErrNotExist) { // published: the restore takes it back
		data, err = vfs.ReadFile(fsys, crashOut+"/"+finalName(name))
	}
	if err != nil {
		return fmt.Errorf("checkpoint %d: the sink's file: %w", id, err)
	}
	if int64(len(data)) < length || string(data[:length]) != want {
		return fmt.Errorf("checkpoint %d committed %q, but the sink's file holds %q", id, want, data)
	}
	return nil
}

// checkPublished checks the job's final output.
func checkPublished(fsys vfs.FS) error {
	infos, err := fsys.ReadDir(crashOut)
	if err != nil {
		return err
	}
	var names []string
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	if len(names) != 1 || names[0] != PartName(0) {
		return fmt.Errorf("output directory holds %v, want only %s", names, PartName(0))
	}
	data, err := vfs.ReadFile(fsys, crashOut+"/"+PartName(0))
	if err != nil {
		return err
	}
	if want := expectedOutput(crashRecords); string(data) != want {
		return fmt.Errorf("published %q, want %q", data, want)
	}
	return nil
}

// crashRun runs attempts of the job on a fresh strict file system, the
// i-th attempt crashing at step crashes[i], then one attempt without a
// crash. It returns whether the last crashing attempt reached its crash
// step; bad receives every violation.
func crashRun(wrap func(*vfs.MemFS) vfs.FS, machine bool, crashes []int, bad func(error)) (reached bool) {
	mem := vfs.NewStrictMem()
	inner := wrap(mem)
	var committed int64 // the checkpoint a restart finds
	for i, k := range crashes {
		efs := errorfs.Wrap(inner)
		var crash func()
		if machine {
			crash = mem.Crash
		}
		efs.CrashAt(k, crash)
		job := &sinkJob{fsys: efs, completed: committed}
		err := job.run()
		if reached = efs.Reached(); !reached {
			if err != nil {
				bad(fmt.Errorf("attempt %d without a crash failed: %w", i+1, err))
			}
			return false
		}
		where := fmt.Sprintf("attempt %d crashed at step %d (%s)", i+1, k, efs.Log()[k-1])
		if !errors.Is(err, errorfs.ErrInjected) {
			bad(fmt.Errorf("%s: error %v, want the injected crash", where, err))
			return true
		}
		if err := checkCommitted(mem, job.completed, machine); err != nil {
			// Report, and go on to see what the restore makes of it.
			bad(fmt.Errorf("%s: %w\nfile system after the crash:\n%s", where, err, mem))
		}
		if committed, _, _, err = restorePoint(mem); err != nil {
			bad(fmt.Errorf("%s: %w", where, err))
			return true
		}
	}
	if err := (&sinkJob{fsys: inner}).run(); err != nil {
		bad(fmt.Errorf("restore after crashes at steps %v: %w\nfile system:\n%s", crashes, err, mem))
		return reached
	}
	if err := checkPublished(mem); err != nil {
		bad(fmt.Errorf("after crashes at steps %v: %w", crashes, err))
		return reached
	}
	// Published output is durable.
	mem.Crash()
	if err := checkPublished(mem); err != nil {
		bad(fmt.Errorf("after crashes at steps %v and a machine crash once done: %w", crashes, err))
	}
	return reached
}

func identity(m *vfs.MemFS) vfs.FS { return m }

// TestSinkCrashAtEveryStep crashes the job at every step k, then restores
// it from the last committed checkpoint: the published output must be the
// records exactly once (the committed prefix plus the replay), the committed
// prefix must have survived the crash byte for byte, and the crash must not
// make a checkpoint appear that never committed.
func TestSinkCrashAtEveryStep(t *testing.T) {
	for _, mode := range []struct {
		name    string
		machine bool
	}{{"machine crash", true}, {"process crash", false}} {
		t.Run(mode.name, func(t *testing.T) {
			k := 1
			for ; ; k++ {
				reached := crashRun(identity, mode.machine, []int{k}, func(err error) { t.Error(err) })
				if !reached {
					break
				}
			}
			if k < 50 {
				t.Fatalf("the job took only %d steps", k-1)
			}
			t.Logf("%d steps, each crashed", k-1)
		})
	}
}

// TestSinkCrashTwiceAtEveryStep crashes the job at every step k and then
// its restore at every step j: a crash during recovery must be as harmless
// as any other.
func TestSinkCrashTwiceAtEveryStep(t *testing.T) {
	runs := 0
	for k := 1; ; k++ {
		reached := crashRun(identity, true, []int{k}, func(err error) { t.Fatal(err) })
		if !reached {
			break
		}
		for j := 1; ; j++ {
			runs++
			reached := crashRun(identity, true, []int{k, j}, func(err error) { t.Fatal(err) })
			if !reached {
				break
			}
		}
	}
	t.Logf("%d pairs of crash steps", runs)
}

// TestSinkCrashTestCatchesMissingSync shows that the enumeration can fail:
// with the sink's syncs lost (the sink of issue 8 never synced at a
// checkpoint), some crash loses output a checkpoint committed, and the
// restore refuses, naming the file and both lengths.
func TestSinkCrashTestCatchesMissingSync(t *testing.T) {
	var violations []error
	for k := 1; ; k++ {
		reached := crashRun(func(m *vfs.MemFS) vfs.FS { return syncsLostUnder{m, crashOut + "/"} }, true, []int{k},
			func(err error) { violations = append(violations, err) })
		if !reached {
			break
		}
	}
	if len(violations) == 0 {
		t.Fatal("no crash step noticed that the sink's syncs did nothing")
	}
	for _, err := range violations {
		msg := err.Error()
		if strings.Contains(msg, "restore "+crashOut+"/"+InProgressName(0)+": the file has 0 bytes but checkpoint 1 recorded 18") {
			return
		}
	}
	t.Fatalf("no violation was the restore refusing the short file; first: %v", violations[0])
}

// syncsLostUnder is a file system whose Sync does nothing for files under
// prefix.
type syncsLostUnder struct {
	vfs.FS
	prefix string
}

func (s syncsLostUnder) Create(name string) (vfs.File, error) { return s.wrap(name, s.FS.Create) }
func (s syncsLostUnder) Append(name string) (vfs.File, error) { return s.wrap(name, s.FS.Append) }

func (s syncsLostUnder) wrap(name string, open func(string) (vfs.File, error)) (vfs.File, error) {
	f, err := open(name)
	if err != nil || !strings.HasPrefix(name, s.prefix) {
		return f, err
	}
	return lostSync{f}, nil
}

type lostSync struct{ vfs.File }

func (lostSync) Sync() error { return nil }

// TestSinkFailureAtEveryStep fails each step of the job once: the attempt
// must end with a clear error (the injected one, naming a path), leave the
// last completed checkpoint and its committed output in place (no partial
// commit), and the restarted job must publish the records exactly once.
func TestSinkFailureAtEveryStep(t *testing.T) {
	k := 1
	for ; ; k++ {
		mem := vfs.NewStrictMem()
		efs := errorfs.Wrap(mem)
		efs.FailAt(k)
		job := &sinkJob{fsys: efs}
		err := job.run()
		if !efs.Reached() {
			if err != nil {
				t.Fatalf("run without a failure: %v", err)
			}
			break
		}
		where := fmt.Sprintf("failure at step %d (%s)", k, efs.Log()[k-1])
		if !errors.Is(err, errorfs.ErrInjected) || !strings.Contains(err.Error(), "/") {
			t.Errorf("%s: error %v, want the injected failure naming a path", where, err)
			continue
		}
		if err := checkCommitted(mem, job.completed, true); err != nil {
			t.Errorf("%s: %v\nfile system:\n%s", where, err, mem)
			continue
		}
		if err := (&sinkJob{fsys: efs}).run(); err != nil {
			t.Errorf("%s, then the restarted job: %v\nfile system:\n%s", where, err, mem)
			continue
		}
		if err := checkPublished(mem); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	t.Logf("%d steps, each failed once", k-1)
}

// TestSinkStateDecodes checks the checkpoint state's encoding, including
// states written before the checkpoint id or adopted files were added.
func TestSinkStateDecodes(t *testing.T) {
	for _, want := range []sinkState{
		{own: sinkFile{".part-00003.inprogress", 1234}, checkpoint: 7},
		{own: sinkFile{".part-00001.inprogress", 9}, checkpoint: 12, adopted: []sinkFile{{".part-00003.inprogress", 0}, {".part-00005-c4.inprogress", 77}}},
	} {
		got, err := decodeSinkState(encodeSinkState(want))
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round trip = %+v %v, want %+v", got, err, want)
		}
	}
	old := binary.AppendVarint(append(binary.AppendUvarint(nil, 2), "ab"...), 5)
	if st, err := decodeSinkState(old); err != nil || st.own.name != "ab" || st.own.length != 5 || st.checkpoint != 0 {
		t.Fatalf("old state = %+v %v", st, err)
	}
	withAdopted := encodeSinkState(sinkState{own: sinkFile{"a", 1}, checkpoint: 2, adopted: []sinkFile{{"b", 3}}})
	for _, b := range [][]byte{nil, {5, 'a'}, append(bytes.Clone(old), 0x80), withAdopted[:len(withAdopted)-1], append(bytes.Clone(withAdopted), 1)} {
		if _, err := decodeSinkState(b); err == nil || !strings.Contains(err.Error(), "corrupt checkpoint state") {
			t.Errorf("decode(%x) = %v, want a corrupt state error", b, err)
		}
	}
}
