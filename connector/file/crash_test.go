package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
	"github.com/loom-yarn/loom/vfs/errorfs"
)

// The tests in this file run a small job — records rec-0 .. rec-9 into the
// file sink, a checkpoint after every third record in real checkpoint
// storage, its completion notified to the sink, publishing at the end — on
// the strict in-memory file system, and crash or fail it at every step
// (every mutating file-system operation; see package errorfs), then restore
// it from what the crash left. The job runs in two layouts: one part file
// (the default rolling policy, as a bounded job), or rolling files by size
// and by age so that several files are committed by checkpoints.

const (
	crashOut     = "/out"
	crashCkpt    = "/ckpt"
	crashRecords = 10
	crashEvery   = 3
)

// crashLayout is a way the job's sink rolls, with the output it publishes.
type crashLayout struct {
	name   string
	config map[string]string
	// published is the output directory at the end: file name to content.
	// Every file visible at any step must be one of them, whole.
	published map[string]string
}

// records is the sink's output of records from .. to-1.
func records(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "rec-%d\n", i)
	}
	return b.String()
}

// expectedOutput is the sink's output after the first n records.
func expectedOutput(n int) string { return records(0, n) }

var (
	// oneFile never rolls: a bounded job's single part file per subtask.
	oneFile = crashLayout{name: "one file", published: map[string]string{"part-00000": expectedOutput(crashRecords)}}
	// rolling rolls at 20 bytes (after the fourth record of a file, each
	// being 6 bytes) and at an age of 5s. The job's clock (crashClock)
	// stands still for 10s before checkpoint 2, so the file then in
	// progress rolls by age at the checkpoint: rec-0..3 roll by size, rec-4
	// and rec-5 by age at checkpoint 2, rec-6..9 by size after the last
	// record.
	rolling = crashLayout{
		name: "rolling",
		config: map[string]string{
			"sink.rolling-policy.file-size":         "20b",
			"sink.rolling-policy.rollover-interval": "5s",
		},
		published: map[string]string{
			"part-00000":      records(0, 4),
			"part-00000-0001": records(4, 6),
			"part-00000-0002": records(6, 10),
		},
	}
)

// crashClock is the job's time when pos records were written: a second per
// record, and a pause of 10s after the sixth. A function of the position,
// not of the attempt, so that a replay sees the times the first run saw.
func crashClock(pos int) time.Time {
	s := int64(pos)
	if pos >= 6 {
		s += 10
	}
	return time.Unix(s, 0)
}

// sinkJob is one attempt of the job on fsys.
type sinkJob struct {
	fsys   vfs.FS
	layout crashLayout
	// completed is the last checkpoint whose metadata was written.
	completed int64
	pos       int // records written so far
	// committedPos is the position of the last checkpoint whose metadata
	// was written: no visible file may hold a record from there on until
	// finishing, when Finish publishes everything.
	committedPos int
	finishing    bool
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
// write the records after its position, checkpoint and publish. The
// completion of a checkpoint reaches the sink late, as it does in a job: of
// odd checkpoints after the next record (a file may have rolled since the
// snapshot, which the notification must not publish), of even ones after
// the next checkpoint (whose state must then carry their pending files).
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
	sink.now = func() time.Time { return crashClock(j.pos) }
	if err := sink.Prepare(id == 0); err != nil {
		return err
	}
	w, err := sink.NewWriter(0, 1)
	if err != nil {
		return err
	}
	j.pos, j.committedPos = pos, pos
	if err := w.Open(&task.Context{Restored: restored, Config: j.layout.config}); err != nil {
		return err
	}
	defer w.Close()
	next := id + 1
	var afterRecord, afterCheckpoint []int64
	notify := func(ids *[]int64) error {
		for _, id := range *ids {
			if err := w.NotifyCheckpointComplete(id); err != nil {
				return err
			}
		}
		*ids = nil
		return nil
	}
	for i := pos; i < crashRecords; i++ {
		b := task.NewBatch[string](1)
		b.Append(task.NoTimestamp, fmt.Sprintf("rec-%d", i))
		if err := w.Write(b); err != nil {
			return err
		}
		j.pos = i + 1
		if err := notify(&afterRecord); err != nil {
			return err
		}
		if (i+1)%crashEvery != 0 {
			continue
		}
		if err := j.checkpoint(st, next, w, i+1); err != nil {
			return err
		}
		if err := notify(&afterCheckpoint); err != nil {
			return err
		}
		if next%2 == 1 {
			afterRecord = append(afterRecord, next)
		} else {
			afterCheckpoint = append(afterCheckpoint, next)
		}
		next++
	}
	j.finishing = true
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
	j.completed, j.committedPos = id, pos
	if id > 1 {
		return st.Discard(id - 1)
	}
	return nil
}

// checkCommitted checks what a crash or failure left, given the last
// checkpoint whose metadata was written: the checkpoint a restart finds is
// that one (or, in a process crash, the one in flight if its metadata
// landed), and the files its state counts on hold, byte for byte, the
// output of the records before its position: the series' files before the
// in-progress one published or pending with their recorded length, the
// in-progress one at least its recorded length.
func checkCommitted(fsys vfs.FS, completed int64, exact bool) error {
	id, raw, pos, err := restorePoint(fsys)
	if err != nil {
		return fmt.Errorf("restart point: %w", err)
	}
	if id != completed && (exact || id != completed+1) {
		return fmt.Errorf("a restart finds checkpoint %d, but the last completed one is %d", id, completed)
	}
	if id == 0 {
		return nil
	}
	st, err := decodeSinkState(raw)
	if err != nil {
		return err
	}
	pending := map[string]int64{}
	// The hidden names of the files the state counts on by final name
	// (they carry their writer's tag); others must be published.
	hiddenOf := map[string]string{}
	for _, f := range st.pending {
		pending[f.name] = f.length
		hiddenOf[finalName(f.name)] = f.name
	}
	if st.current != nil {
		hiddenOf[finalName(st.current.name)] = st.current.name
	}
	var got []byte
	for k := int64(0); k <= st.counter; k++ {
		final := partFileName(st.base, k)
		hidden, ok := hiddenOf[final]
		if !ok {
			hidden = inProgressName(final, "")
		}
		where := hidden
		data, err := vfs.ReadFile(fsys, crashOut+"/"+hidden)
		if errors.Is(err, iofs.ErrNotExist) { // published
			where = final
			data, err = vfs.ReadFile(fsys, crashOut+"/"+final)
		}
		if err != nil {
			return fmt.Errorf("checkpoint %d: file %d of the series: %w", id, k, err)
		}
		length, isPending := pending[hidden]
		switch {
		case st.current != nil && st.current.name == hidden:
			if int64(len(data)) < st.current.length {
				return fmt.Errorf("checkpoint %d recorded %d bytes of %s, but it holds %q", id, st.current.length, where, data)
			}
			data = data[:st.current.length]
		case isPending:
			if int64(len(data)) != length {
				return fmt.Errorf("checkpoint %d recorded %d bytes of its pending %s, but it holds %q", id, length, where, data)
			}
		case where == hidden:
			return fmt.Errorf("checkpoint %d counts %s as published, but it is still hidden", id, final)
		}
		got = append(got, data...)
	}
	if want := expectedOutput(pos); string(got) != want {
		return fmt.Errorf("checkpoint %d at position %d committed %q, but its files hold %q", id, pos, want, got)
	}
	return nil
}

// checkVisible checks that every file a reader of the output directory
// sees is one the job publishes, whole, and holds only records before
// position committed (-1: any).
func checkVisible(fsys vfs.FS, layout crashLayout, committed int) error {
	infos, err := fsys.ReadDir(crashOut)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, fi := range infos {
		if vfs.Hidden(fi.Name()) {
			continue
		}
		want, ok := layout.published[fi.Name()]
		if !ok {
			return fmt.Errorf("visible file %s is not one the job publishes", fi.Name())
		}
		data, err := vfs.ReadFile(fsys, crashOut+"/"+fi.Name())
		if err != nil {
			return err
		}
		if string(data) != want {
			return fmt.Errorf("visible file %s holds %q, want %q", fi.Name(), data, want)
		}
		if committed >= 0 && !strings.Contains("\n"+expectedOutput(committed), "\n"+want) {
			return fmt.Errorf("visible file %s holds %q, but only the records before position %d are committed", fi.Name(), want, committed)
		}
	}
	return nil
}

// checkPublished checks the job's final output: exactly the layout's files,
// nothing hidden left over.
func checkPublished(fsys vfs.FS, layout crashLayout) error {
	infos, err := fsys.ReadDir(crashOut)
	if err != nil {
		return err
	}
	var names []string
	for _, fi := range infos {
		if fi.Name() != ownerFile { // the run's released claim stays
			names = append(names, fi.Name())
		}
	}
	if want := slices.Sorted(maps.Keys(layout.published)); !slices.Equal(names, want) {
		return fmt.Errorf("output directory holds %v, want %v", names, want)
	}
	return checkVisible(fsys, layout, -1)
}

// watched is a file system that calls check after every mutating
// operation, to see the output directory as a reader would at every step.
type watched struct {
	vfs.FS
	check func(op string)
}

func (w watched) after(op string, err error) error {
	w.check(op)
	return err
}

func (w watched) Create(name string) (vfs.File, error) {
	f, err := w.FS.Create(name)
	w.check("create " + name)
	if err != nil {
		return nil, err
	}
	return watchedFile{f, w, name}, nil
}

func (w watched) Append(name string) (vfs.File, error) {
	f, err := w.FS.Append(name)
	w.check("append " + name)
	if err != nil {
		return nil, err
	}
	return watchedFile{f, w, name}, nil
}

func (w watched) Rename(from, to string) error {
	return w.after("rename "+from+" -> "+to, w.FS.Rename(from, to))
}
func (w watched) SyncDir(dir string) error { return w.after("syncdir "+dir, w.FS.SyncDir(dir)) }
func (w watched) Truncate(name string, n int64) error {
	return w.after("truncate "+name, w.FS.Truncate(name, n))
}
func (w watched) MkdirAll(dir string) error { return w.after("mkdir "+dir, w.FS.MkdirAll(dir)) }
func (w watched) Remove(name string) error  { return w.after("remove "+name, w.FS.Remove(name)) }
func (w watched) RemoveAll(name string) error {
	return w.after("removeall "+name, w.FS.RemoveAll(name))
}

type watchedFile struct {
	vfs.File
	fs   watched
	name string
}

func (f watchedFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.fs.check("write " + f.name)
	return n, err
}
func (f watchedFile) Sync() error  { return f.fs.after("sync "+f.name, f.File.Sync()) }
func (f watchedFile) Close() error { return f.fs.after("close "+f.name, f.File.Close()) }

// crashRun runs attempts of the job on a fresh strict file system, the
// i-th attempt crashing at step crashes[i], then one attempt without a
// crash, checking the visible output at every step. It returns whether the
// last crashing attempt reached its crash step; bad receives every
// violation.
func crashRun(layout crashLayout, wrap func(*vfs.MemFS) vfs.FS, machine bool, crashes []int, bad func(error)) (reached bool) {
	mem := vfs.NewStrictMem()
	attempt := 0
	var job *sinkJob // the attempt running
	// finished is set once an attempt reached Finish, which publishes
	// records no checkpoint covers (a bounded job's end); its files stay
	// visible until a restore takes them back.
	finished := false
	inner := watched{wrap(mem), func(op string) {
		committed := job.committedPos
		if finished = finished || job.finishing; finished {
			committed = -1
		}
		if err := checkVisible(mem, layout, committed); err != nil {
			bad(fmt.Errorf("attempt %d, after %s: %w\nfile system:\n%s", attempt, op, err, mem))
		}
	}}
	var committed int64  // the checkpoint a restart finds
	var committedPos int // its position
	for i, k := range crashes {
		attempt = i + 1
		efs := errorfs.Wrap(inner)
		var crash func()
		if machine {
			crash = mem.Crash
		}
		efs.CrashAt(k, crash)
		job = &sinkJob{fsys: efs, layout: layout, completed: committed, committedPos: committedPos}
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
		_, _, pos, err := restorePoint(mem)
		if finished = finished || job.finishing; finished || err != nil {
			pos = -1
		}
		if err := checkVisible(mem, layout, pos); err != nil {
			bad(fmt.Errorf("%s: %w\nfile system after the crash:\n%s", where, err, mem))
		}
		if err := checkCommitted(mem, job.completed, machine); err != nil {
			// Report, and go on to see what the restore makes of it.
			bad(fmt.Errorf("%s: %w\nfile system after the crash:\n%s", where, err, mem))
		}
		if committed, _, committedPos, err = restorePoint(mem); err != nil {
			bad(fmt.Errorf("%s: %w", where, err))
			return true
		}
	}
	attempt = len(crashes) + 1
	job = &sinkJob{fsys: inner, layout: layout, committedPos: committedPos}
	if err := job.run(); err != nil {
		bad(fmt.Errorf("restore after crashes at steps %v: %w\nfile system:\n%s", crashes, err, mem))
		return reached
	}
	if err := checkPublished(mem, layout); err != nil {
		bad(fmt.Errorf("after crashes at steps %v: %w", crashes, err))
		return reached
	}
	// Published output is durable.
	mem.Crash()
	if err := checkPublished(mem, layout); err != nil {
		bad(fmt.Errorf("after crashes at steps %v and a machine crash once done: %w", crashes, err))
	}
	return reached
}

func identity(m *vfs.MemFS) vfs.FS { return m }

// TestSinkCrashLayouts checks the layouts the crash tests expect: a run
// without crashes publishes them, and each holds every record once, in
// order.
func TestSinkCrashLayouts(t *testing.T) {
	for _, layout := range []crashLayout{oneFile, rolling} {
		var all string
		for _, name := range slices.Sorted(maps.Keys(layout.published)) {
			all += layout.published[name]
		}
		if all != expectedOutput(crashRecords) {
			t.Errorf("%s: the layout holds %q", layout.name, all)
		}
		mem := vfs.NewStrictMem()
		if err := (&sinkJob{fsys: mem, layout: layout}).run(); err != nil {
			t.Fatalf("%s: %v", layout.name, err)
		}
		if err := checkPublished(mem, layout); err != nil {
			t.Errorf("%s: %v\n%s", layout.name, err, mem)
		}
	}
}

// TestSinkCrashAtEveryStep crashes the job at every step k, then restores
// it from the last committed checkpoint: the published output must be the
// records exactly once (the committed prefix plus the replay), the committed
// prefix must have survived the crash byte for byte, no visible file may be
// partial at any step, and the crash must not make a checkpoint appear that
// never committed.
func TestSinkCrashAtEveryStep(t *testing.T) {
	for _, layout := range []crashLayout{oneFile, rolling} {
		for _, mode := range []struct {
			name    string
			machine bool
		}{{"machine crash", true}, {"process crash", false}} {
			t.Run(layout.name+"/"+mode.name, func(t *testing.T) {
				k := 1
				for ; ; k++ {
					reached := crashRun(layout, identity, mode.machine, []int{k}, func(err error) { t.Error(err) })
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
}

// TestSinkCrashTwiceAtEveryStep crashes the rolling job at every step k and
// then its restore at every step j: a crash during recovery must be as
// harmless as any other.
func TestSinkCrashTwiceAtEveryStep(t *testing.T) {
	runs := 0
	for k := 1; ; k++ {
		reached := crashRun(rolling, identity, true, []int{k}, func(err error) { t.Fatal(err) })
		if !reached {
			break
		}
		for j := 1; ; j++ {
			runs++
			reached := crashRun(rolling, identity, true, []int{k, j}, func(err error) { t.Fatal(err) })
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
		reached := crashRun(rolling, func(m *vfs.MemFS) vfs.FS { return syncsLostUnder{m, crashOut + "/"} }, true, []int{k},
			func(err error) { violations = append(violations, err) })
		if !reached {
			break
		}
	}
	if len(violations) == 0 {
		t.Fatal("no crash step noticed that the sink's syncs did nothing")
	}
	refused := regexp.MustCompile(`restore ` + crashOut + `/\.part-00000\.[0-9a-f]{8}\.inprogress: the file has 0 bytes but checkpoint 1 recorded 18`)
	for _, err := range violations {
		if refused.MatchString(err.Error()) {
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
	for _, layout := range []crashLayout{oneFile, rolling} {
		t.Run(layout.name, func(t *testing.T) {
			k := 1
			for ; ; k++ {
				mem := vfs.NewStrictMem()
				efs := errorfs.Wrap(mem)
				efs.FailAt(k)
				job := &sinkJob{fsys: efs, layout: layout}
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
				committed := job.committedPos
				if job.finishing {
					committed = -1
				}
				if err := checkVisible(mem, layout, committed); err != nil {
					t.Errorf("%s: %v\nfile system:\n%s", where, err, mem)
					continue
				}
				if err := (&sinkJob{fsys: efs, layout: layout}).run(); err != nil {
					t.Errorf("%s, then the restarted job: %v\nfile system:\n%s", where, err, mem)
					continue
				}
				if err := checkPublished(mem, layout); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			t.Logf("%d steps, each failed once", k-1)
		})
	}
}

// legacyFile and encodeLegacySinkState write the state of the sink before
// rolling files, one part file per subtask published at Finish: its
// in-progress file's name and length, the checkpoint id (from some
// version on), then the files adopted at a rescale, if any.
type legacyFile struct {
	name   string
	length int64
}

func encodeLegacySinkState(own legacyFile, checkpoint int64, adopted ...legacyFile) []byte {
	appendFile := func(b []byte, f legacyFile) []byte {
		b = binary.AppendUvarint(b, uint64(len(f.name)))
		b = append(b, f.name...)
		return binary.AppendVarint(b, f.length)
	}
	b := appendFile(nil, own)
	b = binary.AppendVarint(b, checkpoint)
	if len(adopted) > 0 {
		b = binary.AppendUvarint(b, uint64(len(adopted)))
		for _, f := range adopted {
			b = appendFile(b, f)
		}
	}
	return b
}

// TestSinkStateDecodes checks the checkpoint state's encoding: round trips,
// the states of the sink before rolling files (which it reads as series of
// one file with the adopted files pending), and corrupt states, which are
// refused, never a panic.
func TestSinkStateDecodes(t *testing.T) {
	current := &sinkFile{name: ".part-00003-0002.inprogress", length: 1234}
	for _, want := range []sinkState{
		{checkpoint: 7, base: "part-00003", counter: 2, current: current, first: time.Unix(0, 1_700_000_000_123_456_789)},
		{checkpoint: 7, base: "part-00003", counter: 2, current: &sinkFile{name: ".part-00003-0002.inprogress"}},
		{checkpoint: 12, base: "part-00001-c4", counter: 3, pending: []sinkFile{
			{name: ".part-00001-c4-0002.inprogress", length: 9, checkpoint: 11}, {name: ".part-00005.inprogress", length: 77, checkpoint: 12}}},
		{base: "part-00000"},
	} {
		got, err := decodeSinkState(encodeSinkState(want))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip = %+v %v, want %+v", got, err, want)
		}
	}

	for _, tt := range []struct {
		name  string
		state []byte
		want  sinkState
	}{
		{"without checkpoint id", encodeLegacySinkState(legacyFile{".part-00002.inprogress", 5}, 0)[:24],
			sinkState{base: "part-00002", current: &sinkFile{name: ".part-00002.inprogress", length: 5}}},
		{"with checkpoint id", encodeLegacySinkState(legacyFile{".part-00003.inprogress", 1234}, 7),
			sinkState{checkpoint: 7, base: "part-00003", current: &sinkFile{name: ".part-00003.inprogress", length: 1234}}},
		{"with adopted files", encodeLegacySinkState(legacyFile{".part-00001.inprogress", 9}, 12,
			legacyFile{".part-00003.inprogress", 0}, legacyFile{".part-00005-c4.inprogress", 77}),
			sinkState{checkpoint: 12, base: "part-00001", current: &sinkFile{name: ".part-00001.inprogress", length: 9},
				pending: []sinkFile{{name: ".part-00003.inprogress", checkpoint: 12}, {name: ".part-00005-c4.inprogress", length: 77, checkpoint: 12}}}},
	} {
		got, err := decodeSinkState(tt.state)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("legacy state %s = %+v %v, want %+v", tt.name, got, err, tt.want)
		}
	}

	old := encodeLegacySinkState(legacyFile{".a.inprogress", 5}, 0)[:15]
	withAdopted := encodeLegacySinkState(legacyFile{".a.inprogress", 1}, 2, legacyFile{".b.inprogress", 3})
	v1 := encodeSinkState(sinkState{checkpoint: 3, base: "part-00000", counter: 1, current: &sinkFile{name: ".part-00000-0001.inprogress", length: 4},
		first: time.Unix(5, 0), pending: []sinkFile{{name: ".part-00000.inprogress", length: 8, checkpoint: 3}}})
	corrupt := [][]byte{nil, {0}, {5, 'a'}, append(bytes.Clone(old), 0x80), withAdopted[:len(withAdopted)-1], append(bytes.Clone(withAdopted), 1),
		append(bytes.Clone(v1), 0),
		encodeLegacySinkState(legacyFile{"a", 1}, 2),           // not an in-progress name
		encodeLegacySinkState(legacyFile{".inprogress", 1}, 2), // nor this
		encodeLegacySinkState(legacyFile{"..a.inprogress", 1}, 2),
		encodeSinkState(sinkState{base: ".hidden"}),
		encodeSinkState(sinkState{base: "a/b"}),
		encodeSinkState(sinkState{base: "part-00000", current: &sinkFile{name: "part-00000"}}),
		encodeSinkState(sinkState{base: "part-00000", pending: []sinkFile{{name: ".part-00000.inprogress", length: -1}}}),
		encodeSinkState(sinkState{base: "part-00000", counter: -1}),
	}
	for n := range len(v1) { // every truncation of a good state
		corrupt = append(corrupt, v1[:n])
	}
	hugeCount := append(encodeSinkState(sinkState{base: "p"})[:len(encodeSinkState(sinkState{base: "p"}))-1], 0xff, 0xff, 0xff, 0xff, 0x0f)
	corrupt = append(corrupt, hugeCount)
	for _, b := range corrupt {
		if _, err := decodeSinkState(b); err == nil || !strings.Contains(err.Error(), "corrupt checkpoint state") {
			t.Errorf("decode(%x) = %v, want a corrupt state error", b, err)
		}
	}
	if _, err := decodeSinkState([]byte{0, 9, 1, 2}); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("a state of an unknown version: %v", err)
	}
}

// FuzzSinkStateDecode feeds arbitrary bytes to the decoder: it refuses or
// accepts, never panics, and what it accepts encodes back to a state it
// reads the same.
func FuzzSinkStateDecode(f *testing.F) {
	f.Add(encodeSinkState(sinkState{checkpoint: 3, base: "part-00000", counter: 1, current: &sinkFile{name: ".part-00000-0001.inprogress", length: 4}}))
	f.Add(encodeLegacySinkState(legacyFile{".part-00001.inprogress", 9}, 12, legacyFile{".part-00003.inprogress", 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeSinkState(b)
		if err != nil {
			return
		}
		again, err := decodeSinkState(encodeSinkState(st))
		if err != nil || !reflect.DeepEqual(again, st) {
			t.Fatalf("%x decodes to %+v, which round-trips to %+v %v", b, st, again, err)
		}
	})
}
