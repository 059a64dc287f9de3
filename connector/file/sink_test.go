package file

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/internal/scenario"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// TestSinkScenarios runs the scripts in testdata/sink_*.txt (see package
// scenario for the format and the -rewrite flag) on the local file system;
// sinkRun.do lists the commands.
func TestSinkScenarios(t *testing.T) {
	scenario.Run(t, "testdata/sink_*.txt", func(t *testing.T) func(cmd string) []string {
		return newSinkRun(t, vfs.Default, filepath.Join(t.TempDir(), "out")).do
	})
}

// sinkRun drives writers of one file sink by commands, for the scripts and
// the step tables below.
type sinkRun struct {
	t       *testing.T
	fsys    vfs.FS
	dir     string
	sink    *FileSink[string]
	writers map[string]task.SinkWriter[string]
	snaps   map[string][]byte
	config  map[string]string // the job configuration the writers open with
	clock   time.Time
}

func newSinkRun(t *testing.T, fsys vfs.FS, dir string) *sinkRun {
	r := &sinkRun{t: t, fsys: fsys, dir: dir, writers: map[string]task.SinkWriter[string]{}, snaps: map[string][]byte{},
		config: map[string]string{}, clock: time.Unix(1_000_000, 0)}
	r.sink = SinkOn(fsys, dir, Lines)
	r.sink.now = func() time.Time { return r.clock }
	return r
}

// do runs one command and returns what it printed: nothing, or an error
// with the directory written OUT. Commands:
//
//	prepare fresh|restore      Sink.Prepare
//	config KEY VALUE           set a job option for the writers opened next
//	tick DURATION              advance the sink's clock
//	touch NAME TEXT            create a file in the output directory
//	open S P [restore ID]      NewWriter(S, P) and Open, fresh or from snapshot ID
//	open S P rescale ID OLDP   Open at P from the snapshots of OLDP writers at ID
//	write S REC...             write a batch to subtask S's writer
//	snapshot S ID              Snapshot(ID), kept for "open ... restore ID"
//	notify S ID                NotifyCheckpointComplete(ID)
//	finish S / close S         Finish / Close
//	rm NAME                    remove a file of the output directory
//	cut NAME N                 truncate a file of the output directory to N bytes
//	crash                      a machine crash (in-memory file system only)
//	ls                         the directory's files with their contents
func (r *sinkRun) do(cmd string) []string {
	t, f := r.t, strings.Fields(cmd)
	result := func(err error) []string {
		if err != nil {
			return []string{"error: " + untag(strings.ReplaceAll(err.Error(), r.dir, "OUT"))}
		}
		return nil
	}
	full := func(name string) string { return r.dir + "/" + name }
	// tagged is the file a script names without its attempt tag.
	tagged := func(name string) string {
		entries, _ := r.fsys.ReadDir(r.dir)
		for _, e := range entries {
			if e.Name() != name && untag(e.Name()) == name {
				return full(e.Name())
			}
		}
		return full(name)
	}
	switch f[0] {
	case "prepare":
		return result(r.sink.Prepare(f[1] == "fresh"))
	case "config":
		r.config[f[1]] = f[2]
		return nil
	case "tick":
		d, err := time.ParseDuration(f[1])
		if err != nil {
			t.Fatal(err)
		}
		r.clock = r.clock.Add(d)
		return nil
	case "touch":
		if err := r.fsys.MkdirAll(r.dir); err != nil {
			t.Fatal(err)
		}
		w, err := r.fsys.Create(full(f[1]))
		if err != nil {
			return result(err)
		}
		w.Write([]byte(strings.Join(f[2:], " ")))
		w.Sync()
		w.Close()
		return result(r.fsys.SyncDir(r.dir))
	case "open":
		var s, p int
		fmt.Sscan(f[1], &s)
		fmt.Sscan(f[2], &p)
		w, err := r.sink.NewWriter(s, p)
		if err != nil {
			return result(err)
		}
		ctx := &task.Context{Subtask: s, Parallelism: p, Config: r.config}
		if len(f) == 5 && f[3] == "restore" {
			ctx.Restored = r.snaps[f[4]]
			if ctx.Restored == nil {
				t.Fatalf("no snapshot %s", f[4])
			}
		}
		if len(f) == 6 && f[3] == "rescale" {
			var oldP int
			fmt.Sscan(f[5], &oldP)
			for i := range oldP {
				ctx.Rescaled = append(ctx.Rescaled, r.snaps[fmt.Sprintf("%d@%s", i, f[4])])
			}
		}
		r.writers[f[1]] = w
		return result(w.Open(ctx))
	case "write":
		b := task.NewBatch[string](len(f))
		for _, v := range f[2:] {
			b.Append(task.NoTimestamp, v)
		}
		return result(r.writers[f[1]].Write(b))
	case "snapshot":
		var id int64
		fmt.Sscan(f[2], &id)
		snap, err := r.writers[f[1]].Snapshot(id)
		r.snaps[f[2]], r.snaps[f[1]+"@"+f[2]] = snap, snap
		return result(err)
	case "notify":
		var id int64
		fmt.Sscan(f[2], &id)
		return result(r.writers[f[1]].NotifyCheckpointComplete(id))
	case "finish":
		return result(r.writers[f[1]].Finish())
	case "close":
		return result(r.writers[f[1]].Close())
	case "rm":
		return result(r.fsys.Remove(tagged(f[1])))
	case "cut":
		var n int64
		fmt.Sscan(f[2], &n)
		return result(r.fsys.Truncate(tagged(f[1]), n))
	case "crash":
		r.fsys.(*vfs.MemFS).Crash()
		return nil
	case "ls":
		entries, err := r.fsys.ReadDir(r.dir)
		if err != nil {
			return result(err)
		}
		var out []string
		for _, e := range entries {
			if e.Name() == ownerFile {
				continue
			}
			data, _ := vfs.ReadFile(r.fsys, full(e.Name()))
			out = append(out, fmt.Sprintf("%s: %q", untag(e.Name()), data))
		}
		sort.Strings(out)
		return out
	}
	t.Fatalf("unknown command %q", cmd)
	return nil
}

// attemptTags matches the tag of a writer's attempt in in-progress names.
var attemptTags = regexp.MustCompile(`(\.part-[0-9a-z-]+)\.[0-9a-f]{8}(\.inprogress)`)

// untag drops the attempt tags from in-progress names: the scripts and step
// tables show ".part-00000.inprogress" for ".part-00000.1a2b3c4d.inprogress",
// since the tags are random (TestSinkAttemptTags checks them), and the
// owner marker is left out of ls (TestSinkOwnership checks it).
func untag(s string) string { return attemptTags.ReplaceAllString(s, "$1$2") }

// sinkStep is a command and what it must print.
type sinkStep struct {
	cmd  string
	want []string
}

func (r *sinkRun) steps(steps []sinkStep) {
	r.t.Helper()
	for i, s := range steps {
		if got := r.do(s.cmd); !slices.Equal(got, s.want) {
			r.t.Fatalf("step %d, %s:\ngot  %q\nwant %q", i+1, s.cmd, got, s.want)
		}
	}
}

// ls is the expected output of the ls command: name, content, name, ...
func ls(namesAndContents ...string) []string {
	var out []string
	for i := 0; i < len(namesAndContents); i += 2 {
		out = append(out, fmt.Sprintf("%s: %q", namesAndContents[i], namesAndContents[i+1]))
	}
	sort.Strings(out)
	return out
}

// TestSinkRollsAndCommits follows one writer through rolls by size and by
// age, checkpoints, late and early notifications, a failure, a restore from
// the latest checkpoint and then, the job having finished, from an older
// one: a file is visible only once a completed checkpoint covers it (or at
// Finish), and every restore publishes each record once.
func TestSinkRollsAndCommits(t *testing.T) {
	r := newSinkRun(t, vfs.NewStrictMem(), "/out")
	r.steps([]sinkStep{
		{"prepare fresh", nil},
		{"config sink.rolling-policy.file-size 8b", nil}, // three records of 3 bytes
		{"open 0 1", nil},
		{"write 0 a1 a2", nil},
		{"snapshot 0 1", nil},
		{"ls", ls(".part-00000.inprogress", "a1\na2\n")},
		// Past the size: the file rolls, pending; the next record starts
		// the next file.
		{"write 0 a3", nil},
		{"ls", ls(".part-00000.inprogress", "a1\na2\na3\n")},
		{"write 0 b1", nil},
		{"snapshot 0 2", nil},
		// Checkpoint 1 does not cover the rolled file; 2 does.
		{"notify 0 1", nil},
		{"ls", ls(".part-00000-0001.inprogress", "b1\n", ".part-00000.inprogress", "a1\na2\na3\n")},
		{"notify 0 2", nil},
		{"ls", ls(".part-00000-0001.inprogress", "b1\n", "part-00000", "a1\na2\na3\n")},
		// Past the age at a checkpoint: the file rolls before the snapshot,
		// which covers it.
		{"tick 1m", nil},
		{"snapshot 0 3", nil},
		{"write 0 c1 c2", nil},
		{"snapshot 0 4", nil},
		{"write 0 c3", nil}, // rolls, covered by no checkpoint yet
		{"write 0 d1", nil},
		// Checkpoint 3's notification is late: 4's publishes its file too,
		// not the one rolled after checkpoint 4.
		{"notify 0 4", nil},
		{"notify 0 3", nil},
		// (d1 is still in the write buffer.)
		{"ls", ls(".part-00000-0002.inprogress", "c1\nc2\nc3\n", ".part-00000-0003.inprogress", "",
			"part-00000", "a1\na2\na3\n", "part-00000-0001", "b1\n")},
		// The task fails. The restore from checkpoint 4 cuts its file back
		// and removes the one started after it; the records are replayed.
		{"close 0", nil},
		{"prepare restore", nil},
		{"open 0 1 restore 4", nil},
		{"ls", ls(".part-00000-0002.inprogress", "c1\nc2\n", "part-00000", "a1\na2\na3\n", "part-00000-0001", "b1\n")},
		{"write 0 c3", nil},
		{"write 0 d1", nil},
		{"finish 0", nil},
		{"ls", ls("part-00000", "a1\na2\na3\n", "part-00000-0001", "b1\n", "part-00000-0002", "c1\nc2\nc3\n", "part-00000-0003", "d1\n")},
		// The job restores from checkpoint 2 (another task failed after
		// this one finished): what was published after it goes, the file
		// in progress at it is taken back, and its age still counts from
		// its first record, a minute ago: it rolls after the next batch.
		{"open 0 1 restore 2", nil},
		{"ls", ls(".part-00000-0001.inprogress", "b1\n", "part-00000", "a1\na2\na3\n")},
		{"write 0 c1", nil},
		{"write 0 c2 c3 d1", nil},
		{"finish 0", nil},
		{"ls", ls("part-00000", "a1\na2\na3\n", "part-00000-0001", "b1\nc1\n", "part-00000-0002", "c2\nc3\nd1\n")},
		// A machine crash keeps it all.
		{"crash", nil},
		{"ls", ls("part-00000", "a1\na2\na3\n", "part-00000-0001", "b1\nc1\n", "part-00000-0002", "c2\nc3\nd1\n")},
	})
}

// TestSinkCommitsAreDurable crashes the machine right after a commit —
// NotifyCheckpointComplete, or a restore publishing the files its
// checkpoint covered — and before any other sync: the published files must
// stay published, since the next checkpoint's state no longer lists them.
func TestSinkCommitsAreDurable(t *testing.T) {
	r := newSinkRun(t, vfs.NewStrictMem(), "/out")
	r.steps([]sinkStep{
		{"prepare fresh", nil},
		{"config sink.rolling-policy.file-size 1b", nil}, // every batch rolls
		{"open 0 1", nil},
		{"write 0 a", nil},
		{"write 0 b", nil},
		{"snapshot 0 1", nil},
		{"notify 0 1", nil},
		{"crash", nil},
		{"ls", ls("part-00000", "a\n", "part-00000-0001", "b\n")},
		{"open 0 1 restore 1", nil},
		{"write 0 c", nil},
		{"snapshot 0 2", nil},
		{"crash", nil},
		{"open 0 1 restore 2", nil}, // publishes c's file
		{"crash", nil},
		{"ls", ls("part-00000", "a\n", "part-00000-0001", "b\n", "part-00000-0002", "c\n")},
	})
}

// sinkJobRun is a single-writer job on fsys for TestSinkRestoresFromEveryCheckpoint:
// records r00, r01, ... one per batch at one second each, a checkpoint
// after every second record, whose completion reaches the writer after the
// next record.
type sinkJobRun struct {
	fsys   vfs.FS
	config map[string]string
	pos    int
}

func sinkJobRecord(i int) string { return fmt.Sprintf("r%02d", i) }

// sinkJobClock is the job's time when pos records were written: a second
// per record, with a pause of 5s after the seventh, so that some files roll
// by age at a checkpoint and others by size.
func sinkJobClock(pos int) time.Time {
	s := int64(pos)
	if pos >= 7 {
		s += 5
	}
	return time.Unix(s, 0)
}

// records writes records from .. to-1 after restoring restored (nil: a
// fresh start), checkpoints with ids from firstID, and finishes or fails
// (closes). It returns the states of the checkpoints and their positions.
func (j *sinkJobRun) records(t *testing.T, restored []byte, from, to int, firstID int64, finish bool) (states [][]byte, positions []int) {
	t.Helper()
	sink := SinkOn(j.fsys, "/out", Lines)
	sink.now = func() time.Time { return sinkJobClock(j.pos) }
	if err := sink.Prepare(restored == nil); err != nil {
		t.Fatal(err)
	}
	w, _ := sink.NewWriter(0, 1)
	j.pos = from
	if err := w.Open(&task.Context{Restored: restored, Config: j.config}); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var late []int64
	id := firstID
	for i := from; i < to; i++ {
		b := task.NewBatch[string](1)
		b.Append(task.NoTimestamp, sinkJobRecord(i))
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		j.pos = i + 1
		for _, id := range late {
			if err := w.NotifyCheckpointComplete(id); err != nil {
				t.Fatal(err)
			}
		}
		late = nil
		if (i+1)%2 == 0 {
			st, err := w.Snapshot(id)
			if err != nil {
				t.Fatal(err)
			}
			states, positions, late = append(states, st), append(positions, i+1), []int64{id}
			id++
		}
	}
	if finish {
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	return states, positions
}

// visible is what a reader of the output directory sees, the files in
// series order, and the hidden files.
func visible(t *testing.T, fsys vfs.FS) (string, []string) {
	t.Helper()
	infos, err := fsys.ReadDir("/out")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var hidden []string
	for _, fi := range infos { // sorted: part-00000 < part-00000-0001 < ...
		if fi.Name() == ownerFile {
			continue // the run's claim, released at the end
		}
		if vfs.Hidden(fi.Name()) {
			hidden = append(hidden, fi.Name())
			continue
		}
		data, err := vfs.ReadFile(fsys, "/out/"+fi.Name())
		if err != nil {
			t.Fatal(err)
		}
		out.Write(data)
	}
	return out.String(), hidden
}

// TestSinkRestoresFromEveryCheckpoint runs a job that rolls by size and by
// age and fails (or finishes: another task failed) after its last record,
// then restores it from each of its checkpoints: right after the restore
// nothing after the checkpoint is visible; finishing at once publishes
// exactly the records up to the checkpoint; replaying the rest publishes
// every record exactly once. The files roll by size after three records,
// and after the job's pause by age at checkpoint 4; checkpoints with
// pending files, with none in progress and in the middle of a file are
// all among them.
func TestSinkRestoresFromEveryCheckpoint(t *testing.T) {
	const total = 16
	config := map[string]string{"sink.rolling-policy.file-size": "10b", "sink.rolling-policy.rollover-interval": "4s"}
	upTo := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(sinkJobRecord(i) + "\n")
		}
		return b.String()
	}
	original := func(finish bool) (*sinkJobRun, [][]byte, []int) {
		j := &sinkJobRun{fsys: vfs.NewStrictMem(), config: config}
		states, positions := j.records(t, nil, 0, total, 1, finish)
		return j, states, positions
	}
	j, states, _ := original(true)
	if out, hidden := visible(t, j.fsys); out != upTo(total) || len(hidden) > 0 {
		t.Fatalf("the job without a failure published %q, left %v", out, hidden)
	}
	infos, _ := j.fsys.ReadDir("/out")
	if len(infos) < 4 {
		t.Fatalf("the job rolled too little to test anything: %d files", len(infos))
	}
	for k := range states {
		for _, finished := range []bool{false, true} {
			for _, replay := range []bool{false, true} {
				name := fmt.Sprintf("checkpoint %d, original finished %v, replay %v", k+1, finished, replay)
				j, states, positions := original(finished)
				pos := positions[k]
				to := pos
				if replay {
					to = total
				}
				// Open alone: a restore that then fails at once.
				sink := SinkOn(j.fsys, "/out", Lines)
				w, _ := sink.NewWriter(0, 1)
				if err := w.Open(&task.Context{Restored: states[k], Config: config}); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				w.Close()
				if out, _ := visible(t, j.fsys); !strings.HasPrefix(upTo(pos), out) {
					t.Errorf("%s: right after the restore the output is %q, not a prefix of the records up to position %d", name, out, pos)
				}
				j.records(t, states[k], pos, to, 100, true)
				out, hidden := visible(t, j.fsys)
				if out != upTo(to) || len(hidden) > 0 {
					t.Errorf("%s: published %q, want %q; hidden files left: %v", name, out, upTo(to), hidden)
				}
			}
		}
	}
}

// TestSinkRescaleWithPendingFiles rescales a job whose writers have pending
// files — not notified yet, or rolled after the checkpoint — and files
// written after the checkpoint, up from 2 to 3 twice from the same
// checkpoint, then down to 1: committed files are published at the
// restore, adopted in-progress files are published by the next completed
// checkpoint, nothing written after a checkpoint survives, and every
// record of the final output is there once.
func TestSinkRescaleWithPendingFiles(t *testing.T) {
	r := newSinkRun(t, vfs.NewStrictMem(), "/out")
	r.steps([]sinkStep{
		{"prepare fresh", nil},
		{"config sink.rolling-policy.file-size 5b", nil}, // two records of 3 bytes
		{"open 0 2", nil},
		{"open 1 2", nil},
		{"write 0 a1 a2", nil}, // rolls
		{"write 0 a3", nil},
		{"write 1 b1", nil},
		{"snapshot 0 5", nil},
		{"snapshot 1 5", nil},
		// Checkpoint 5 completes, but the notifications never arrive.
		{"write 0 a4 lost", nil},
		{"write 0 lost", nil},
		{"write 1 lost lost", nil},
		{"close 0", nil},
		{"close 1", nil},
		// Up to 3: writer 0 publishes its committed file, cuts its own back
		// and drops what came after; writer 2 is new.
		{"prepare restore", nil},
		{"open 0 3 rescale 5 2", nil},
		{"open 1 3 rescale 5 2", nil},
		{"open 2 3 rescale 5 2", nil},
		{"ls", ls(".part-00000-0001.inprogress", "a3\n", ".part-00001.inprogress", "b1\n", ".part-00002-c5.inprogress", "",
			"part-00000", "a1\na2\n")},
		{"write 2 lost lost", nil},
		{"write 2 lost", nil},
		{"close 0", nil},
		{"close 1", nil},
		{"close 2", nil},
		// Failed before a checkpoint: up to 3 again from checkpoint 5. New
		// writer 2 must not keep what the first try left.
		{"open 0 3 rescale 5 2", nil},
		{"open 1 3 rescale 5 2", nil},
		{"open 2 3 rescale 5 2", nil},
		{"ls", ls(".part-00000-0001.inprogress", "a3\n", ".part-00001.inprogress", "b1\n", ".part-00002-c5.inprogress", "",
			"part-00000", "a1\na2\n")},
		{"write 0 a4", nil},    // rolls
		{"write 1 b2 b3", nil}, // rolls
		{"write 1 b4", nil},
		{"write 2 c1", nil},
		{"snapshot 0 6", nil},
		{"snapshot 1 6", nil},
		{"snapshot 2 6", nil},
		{"notify 1 6", nil}, // only writer 1 hears of it
		{"write 1 lost lost", nil},
		{"write 1 lost", nil},
		{"ls", ls(".part-00000-0001.inprogress", "a3\na4\n", ".part-00001-0001.inprogress", "b4\nlost\nlost\n",
			".part-00001-0002.inprogress", "lost\n", ".part-00002-c5.inprogress", "c1\n",
			"part-00000", "a1\na2\n", "part-00001", "b1\nb2\nb3\n")},
		{"close 0", nil},
		{"close 1", nil},
		{"close 2", nil},
		// Down to 1: writer 0 publishes the files checkpoint 6 covered,
		// takes writer 1's and 2's in-progress files as its pending ones,
		// and drops what writer 1 wrote after the checkpoint.
		{"open 0 1 rescale 6 3", nil},
		{"ls", ls(".part-00001-0001.inprogress", "b4\n", ".part-00002-c5.inprogress", "c1\n",
			"part-00000", "a1\na2\n", "part-00000-0001", "a3\na4\n", "part-00001", "b1\nb2\nb3\n")},
		{"write 0 z1", nil},
		{"snapshot 0 7", nil},
		{"notify 0 7", nil},
		{"write 0 z2", nil}, // rolls, published at Finish
		{"finish 0", nil},
		{"ls", ls("part-00000", "a1\na2\n", "part-00000-0001", "a3\na4\n", "part-00000-0002", "z1\nz2\n",
			"part-00001", "b1\nb2\nb3\n", "part-00001-0001", "b4\n", "part-00002-c5", "c1\n")},
	})
}

// TestSinkRestoreRefusesLostCommittedFiles: a pending file of the restored
// checkpoint — committed, since the checkpoint completed — must be there
// with its recorded length, hidden or already published; otherwise the
// restore fails naming the file and the checkpoint.
func TestSinkRestoreRefusesLostCommittedFiles(t *testing.T) {
	for _, tt := range []struct {
		name    string
		changes []string
		want    []string
	}{
		{"published by the failed run", []string{"notify 0 1"}, nil},
		{"gone", []string{"rm .part-00000.inprogress"}, []string{
			"error: file sink: restore from checkpoint 1: its committed file OUT/.part-00000.inprogress is gone, and OUT/part-00000 does not exist either: " +
				"its records are lost, so the job cannot resume exactly once"}},
		{"cut", []string{"cut .part-00000.inprogress 2"}, []string{
			"error: file sink: restore from checkpoint 1: committed file OUT/.part-00000.inprogress has 2 bytes but the checkpoint recorded 4 " +
				"(was the file changed?), so the job cannot resume exactly once"}},
		{"published and cut", []string{"notify 0 1", "cut part-00000 2"}, []string{
			"error: file sink: restore from checkpoint 1: committed file OUT/part-00000 has 2 bytes but the checkpoint recorded 4 " +
				"(was the file changed?), so the job cannot resume exactly once"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newSinkRun(t, vfs.NewStrictMem(), "/out")
			r.steps([]sinkStep{
				{"prepare fresh", nil},
				{"config sink.rolling-policy.file-size 4b", nil},
				{"open 0 1", nil},
				{"write 0 a b", nil}, // rolls
				{"snapshot 0 1", nil},
			})
			for _, cmd := range tt.changes {
				r.steps([]sinkStep{{cmd, nil}})
			}
			r.steps([]sinkStep{{"close 0", nil}, {"open 0 1 restore 1", tt.want}})
		})
	}
}

// TestSinkFreshStartRemovesOnlyItsOwnFiles: a restart from scratch removes
// the files an earlier attempt of the job left for its subtask — published
// or hidden, the first or a rolled one — and nothing else.
func TestSinkFreshStartRemovesOnlyItsOwnFiles(t *testing.T) {
	r := newSinkRun(t, vfs.Default, filepath.Join(t.TempDir(), "out"))
	steps := []sinkStep{{"prepare fresh", nil}}
	mine := []string{"part-00001", "part-00001-0001", "part-00001-12345", ".part-00001.inprogress", ".part-00001-0002.inprogress"}
	others := []string{"part-00000", "part-00000-0001", ".part-00000.inprogress", "part-00011", "part-000010", "part-00001-c3", ".part-00001-c3.inprogress",
		"part-00001-001", "part-00001-0001x", "part-00001.crc", "_SUCCESS", "notes.txt"}
	for _, name := range append(mine, others...) {
		steps = append(steps, sinkStep{"touch " + name + " old", nil})
	}
	var want []string
	for _, name := range others {
		want = append(want, name, "old")
	}
	steps = append(steps, sinkStep{"open 1 2", nil}, sinkStep{"ls", ls(append(want, ".part-00001.inprogress", "")...)})
	r.steps(steps)
}

// TestSinkRejectsBadRollingOptions: a bad value of a rolling option fails
// the writer's Open naming the sink, the key and the value.
func TestSinkRejectsBadRollingOptions(t *testing.T) {
	r := newSinkRun(t, vfs.NewStrictMem(), "/out")
	r.steps([]sinkStep{
		{"prepare fresh", nil},
		{"config sink.rolling-policy.file-size lots", nil},
		{"open 0 1", []string{`error: file sink OUT: sink.rolling-policy.file-size: "lots" is not valid in the job configuration: want a size like 512kb, 64mb or 1g`}},
	})
}

func TestSeriesNumber(t *testing.T) {
	for _, tt := range []struct {
		name, base string
		k          int64
		ok         bool
	}{
		{"part-00000", "part-00000", 0, true},
		{".part-00000.inprogress", "part-00000", 0, true},
		{"part-00000-0001", "part-00000", 1, true},
		{".part-00000-0042.inprogress", "part-00000", 42, true},
		{"part-00000-12345", "part-00000", 12345, true},
		{"part-00000-c7", "part-00000-c7", 0, true},
		{".part-00000-c7-0003.inprogress", "part-00000-c7", 3, true},
		{"part-00000-c7", "part-00000", 0, false},
		{"part-00000-c7-0003", "part-00000", 0, false},
		{"part-000001", "part-00000", 0, false},
		{"part-00000-001", "part-00000", 0, false},
		{"part-00000-0000", "part-00000", 0, false},
		{"part-00000-00a1", "part-00000", 0, false},
		{".part-00000", "part-00000", 0, false},
		{"part-00000.inprogress", "part-00000", 0, false},
		{"..part-00000.inprogress", "part-00000", 0, false},
		{"part-00001", "part-00000", 0, false},
	} {
		k, ok := seriesNumber(tt.name, tt.base)
		if k != tt.k || ok != tt.ok {
			t.Errorf("seriesNumber(%q, %q) = %d, %v; want %d, %v", tt.name, tt.base, k, ok, tt.k, tt.ok)
		}
	}
	for _, k := range []int64{0, 1, 9999, 10000} {
		if got, ok := seriesNumber(partFileName("part-00003-c2", k), "part-00003-c2"); got != k || !ok {
			t.Errorf("file %d of a series reads back as %d, %v", k, got, ok)
		}
	}
}

func TestSinkBufferedWritesReachFileOnlyAtFlush(t *testing.T) {
	dir := t.TempDir()
	w, _ := Sink(dir, func(dst []byte, v int) []byte { return fmt.Appendf(dst, "n=%d", v) }).NewWriter(3, 4)
	if err := w.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	b := task.NewBatch[int](2)
	b.Append(task.NoTimestamp, 7)
	b.Append(task.NoTimestamp, 8)
	w.Write(b)
	inProgress, _ := filepath.Glob(filepath.Join(dir, ".part-00003.*.inprogress"))
	if len(inProgress) != 1 {
		t.Fatalf("in-progress files %v, want one", inProgress)
	}
	if fi, err := os.Stat(inProgress[0]); err != nil || fi.Size() != 0 {
		t.Fatalf("before a flush the in-progress file should be empty: %v %v", fi, err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, "part-00003"))
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if strings.Join(got, ",") != "n=7,n=8" {
		t.Fatalf("part file has %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Finish: %v", err)
	}
}
