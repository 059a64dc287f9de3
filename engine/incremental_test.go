package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// The job of the incremental checkpoint tests and benchmark: a source of
// keyed updates (rounds) into a keyed sum that also keeps a padding value
// per key, so that the state has a size worth checkpointing, and, with
// timers on, emits every key's final sum when the input ends.

// rounds is the source: round 0 sets each of keys keys, each later round
// updates perRound of them, one round per pace; after round last the input
// ends. Rounds after stall are held back (the source idles), so that a run
// can checkpoint a known prefix of the input. A record is round<<32 | key.
type rounds struct {
	keys, perRound, last, stall int64
	pace                        time.Duration
}

func (r rounds) Bounded() bool { return false }

func (r rounds) NewReader(subtask, parallelism int) (task.SourceReader[int64], error) {
	return &roundsReader{src: r}, nil
}

// keyOf is the key of the j-th record of round.
func (r rounds) keyOf(round, j int64) int64 {
	if round == 0 {
		return j
	}
	return (round*7919 + j*101) % r.keys
}

// count is the number of records of round.
func (r rounds) count(round int64) int64 {
	if round == 0 {
		return r.keys
	}
	return r.perRound
}

// sums is what the job computes over rounds 0..last: each record adds its
// round + 1 to its key.
func (r rounds) sums() map[int64]int64 {
	want := make(map[int64]int64, r.keys)
	for round := int64(0); round <= r.last; round++ {
		for j := range r.count(round) {
			want[r.keyOf(round, j)] += round + 1
		}
	}
	return want
}

type roundsReader struct {
	src         rounds
	round, next int64
	notBefore   time.Time
}

func (r *roundsReader) Open(ctx *task.Context) error {
	if ctx.Restored != nil {
		var n1, n2 int
		r.round, n1 = binary.Varint(ctx.Restored)
		r.next, n2 = binary.Varint(ctx.Restored[max(n1, 0):])
		if n1 <= 0 || n2 <= 0 {
			return fmt.Errorf("rounds: bad restored position %x", ctx.Restored)
		}
	}
	return nil
}

func (r *roundsReader) Read(b *task.Batch[int64]) (task.ReadStatus, error) {
	if r.round > r.src.last {
		return task.ReadStatus{End: true}, nil
	}
	if wait := time.Until(r.notBefore); wait > 0 || r.round > r.src.stall {
		return task.ReadStatus{Wait: max(wait, time.Millisecond)}, nil
	}
	n := r.src.count(r.round)
	for len(b.Values) < cap(b.Values) && r.next < n {
		b.Append(task.NoTimestamp, r.round<<32|r.src.keyOf(r.round, r.next))
		r.next++
	}
	if r.next == n {
		r.round++
		r.next = 0
		r.notBefore = time.Now().Add(r.src.pace)
	}
	return task.ReadStatus{}, nil
}

func (r *roundsReader) Snapshot() ([]byte, error) {
	return binary.AppendVarint(binary.AppendVarint(nil, r.round), r.next), nil
}
func (r *roundsReader) Close() error { return nil }

func recordKey(rec int64) int64 { return rec & (1<<32 - 1) }

// sumFn keeps, per key, the sum of its records and a padding value of pad
// bytes rewritten by every record.
type sumFn struct {
	pad    int
	timers bool
	sum    state.ValueState[int64]
	blob   state.ValueState[[]byte]
	buf    []byte
}

func (f *sumFn) Open(ctx *stream.KeyedContext[int64]) error {
	var err error
	if f.sum, err = stream.ValueState[int64, int64](ctx, "sum"); err != nil {
		return err
	}
	f.blob, err = stream.ValueState[int64, []byte](ctx, "pad")
	return err
}

func (f *sumFn) ProcessElement(rec int64, ctx *stream.KeyedContext[int64], out *stream.Collector[stream.KV[int64, int64]]) error {
	s, _, err := f.sum.Value()
	if err != nil {
		return err
	}
	if err := f.sum.Update(s + rec>>32 + 1); err != nil {
		return err
	}
	if err := f.blob.Update(padding(f.buf[:0], uint64(rec), f.pad)); err != nil {
		return err
	}
	if f.timers {
		return ctx.RegisterEventTimer(1)
	}
	return nil
}

func (f *sumFn) OnTimer(ts int64, ctx *stream.KeyedContext[int64], out *stream.Collector[stream.KV[int64, int64]]) error {
	s, _, err := f.sum.Value()
	if err != nil {
		return err
	}
	out.Collect(stream.KV[int64, int64]{Key: ctx.Key(), Value: s})
	return nil
}

// padding appends n incompressible bytes derived from seed.
func padding(dst []byte, seed uint64, n int) []byte {
	x := seed*0x9e3779b97f4a7c15 + 1
	for len(dst) < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		dst = binary.LittleEndian.AppendUint64(dst, x)
	}
	return dst[:n]
}

// finals collects what the job emits: each key's final sum.
type finals struct {
	mu   sync.Mutex
	got  map[int64]int64
	dups int
}

func newFinals() *finals { return &finals{got: map[int64]int64{}} }

func (c *finals) NewWriter(int, int) (task.SinkWriter[stream.KV[int64, int64]], error) {
	return finalsWriter{c}, nil
}

// check compares what was collected with want.
func (c *finals) check(t *testing.T, what string, want map[int64]int64) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dups > 0 {
		t.Errorf("%s: %d keys emitted twice", what, c.dups)
	}
	bad := 0
	for k, v := range want {
		if got, ok := c.got[k]; !ok || got != v {
			if bad++; bad <= 3 {
				t.Errorf("%s: key %d: got %d (emitted: %v), want %d", what, k, got, ok, v)
			}
		}
	}
	if len(c.got) != len(want) || bad > 0 {
		t.Fatalf("%s: %d keys emitted, want %d; %d wrong", what, len(c.got), len(want), bad)
	}
}

type finalsWriter struct{ c *finals }

func (w finalsWriter) Open(*task.Context) error { return nil }
func (w finalsWriter) Write(b *task.Batch[stream.KV[int64, int64]]) error {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	for _, kv := range b.Values {
		if _, ok := w.c.got[kv.Key]; ok {
			w.c.dups++
		}
		w.c.got[kv.Key] = kv.Value
	}
	return nil
}
func (w finalsWriter) Snapshot(int64) ([]byte, error)       { return nil, nil }
func (w finalsWriter) NotifyCheckpointComplete(int64) error { return nil }
func (w finalsWriter) Finish() error                        { return nil }
func (w finalsWriter) Close() error                         { return nil }

// sumJob builds the job at parallelism p (the source runs at 1).
func sumJob(t testing.TB, src task.Source[int64], p, pad int, timers bool, sink task.Sink[stream.KV[int64, int64]]) *graph.Graph {
	env := stream.NewEnv("incsum")
	env.SetParallelism(p)
	env.SetMaxParallelism(32)
	recs := stream.FromSource[int64](env, "rounds", src, nil).Parallelism(1)
	sums := stream.Process(stream.KeyBy(recs, recordKey), "sum", func() stream.KeyedProcessFunction[int64, int64, stream.KV[int64, int64]] {
		return &sumFn{pad: pad, timers: timers, buf: make([]byte, 0, pad+8)}
	})
	sums.SinkTo("finals", sink)
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// sharedFilesIn lists the files under root/shared, relative to root.
func sharedFilesIn(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, checkpoint.SharedDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// retainedMetadata loads the metadata of every complete checkpoint in root.
func retainedMetadata(t testing.TB, root string) []*checkpoint.Metadata {
	t.Helper()
	complete, _, err := checkpoint.NewLocalStorage(root).IDs()
	if err != nil {
		t.Fatal(err)
	}
	var out []*checkpoint.Metadata
	for _, id := range complete {
		md, _, err := checkpoint.Load(filepath.Join(root, fmt.Sprintf("chk-%d", id)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, md)
	}
	return out
}

// nopTasks is a checkpoint.Tasks for a Driver that only cleans up.
type nopTasks struct{}

func (nopTasks) Trigger(int64, time.Time, []checkpoint.TaskID, *checkpoint.SavepointTrigger) {}
func (nopTasks) Complete(int64)                                                              {}

// TestIncrementalCheckpointsJob runs a keyed job on the LSM backend with
// checkpoints every 30 ms while about 1% of its keys change per interval,
// and checks that each checkpoint uploads only the tables the previous one
// did not have, that the storage holds only what the three retained
// checkpoints reference, and that the latest checkpoint restores to exactly
// the right results at the same and at another parallelism, into the LSM
// and into the heap backend, and, checkpointing again, references the
// tables it restored instead of uploading them again.
func TestIncrementalCheckpointsJob(t *testing.T) {
	const pad = 400
	src := rounds{keys: 20000, perRound: 200, last: 14, stall: 14, pace: 30 * time.Millisecond}
	want := src.sums()
	ck := t.TempDir()
	root := filepath.Join(ck, "incsum")

	// Run 1 checkpoints until the source stalls after round 6, then is
	// cancelled: it never ends, so it never emits.
	var completed atomic.Int64
	var written sync.Map // checkpoint id -> bytes written
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run1 := src
	run1.stall = 6
	x, err := engine.Start(ctx, sumJob(t, run1, 2, pad, true, newFinals()), engine.Options{
		StateBackend: "lsm", StateDir: t.TempDir(), CheckpointDir: ck,
		CheckpointInterval: 30 * time.Millisecond, CheckpointsRetain: 3,
		OnCheckpoint: func(id int64, _ time.Duration, bytes int64) {
			written.Store(id, bytes)
			completed.Add(1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for completed.Load() < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d checkpoints completed within 60s", completed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := x.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	mds := retainedMetadata(t, root)
	if len(mds) != 3 {
		t.Fatalf("%d checkpoints retained, want 3 (state.checkpoints.num-retained)", len(mds))
	}
	// Each checkpoint uploads exactly the tables the previous one did not
	// list, and references the others where the previous one had them.
	for k := 1; k < len(mds); k++ {
		prev, cur := mds[k-1], mds[k]
		for _, ts := range cur.Tasks {
			if !ts.Incremental {
				continue
			}
			var was checkpoint.TaskSnapshot
			for _, p := range prev.Tasks {
				if p.Task == ts.Task && p.Subtask == ts.Subtask {
					was = p
				}
			}
			had := map[string]checkpoint.SharedFile{}
			for _, f := range was.Shared {
				had[tableName(f.Path)] = f
			}
			var fresh int64
			for _, f := range ts.Shared {
				old, ok := had[tableName(f.Path)]
				switch {
				case !ok:
					fresh += f.Size
				case old != f:
					t.Errorf("checkpoint %d of %s/%d uploaded table %s again (%s) instead of referencing %s", cur.ID, ts.Task, ts.Subtask, tableName(f.Path), f.Path, old.Path)
				}
			}
			if ts.Size != ts.FileSize+fresh {
				t.Errorf("checkpoint %d of %s/%d wrote %d bytes, want its task file's %d + the new tables' %d", cur.ID, ts.Task, ts.Subtask, ts.Size, ts.FileSize, fresh)
			}
		}
	}
	// The latest checkpoint (taken while the source stalled) wrote little
	// compared with the state it holds.
	last := mds[len(mds)-1]
	var lastState, lastWritten int64
	for _, ts := range last.Tasks {
		lastState += ts.TotalSize()
		lastWritten += ts.Size
	}
	if v, _ := written.Load(last.ID); v != lastWritten {
		t.Errorf("OnCheckpoint reported %v bytes for checkpoint %d, the metadata %d", v, last.ID, lastWritten)
	}
	if lastState < 4<<20 || lastWritten > lastState/5 {
		t.Errorf("checkpoint %d wrote %d bytes of a state of %d: want a state of at least 4 MiB and at most a fifth of it written", last.ID, lastWritten, lastState)
	}
	t.Logf("checkpoint %d: %d bytes written, state %d bytes", last.ID, lastWritten, lastState)

	// The storage holds only what the retained checkpoints reference, once
	// a driver started on it (as the next run's does) has swept what the
	// cancelled run's last checkpoint left.
	if _, err := checkpoint.NewDriver(checkpoint.NewLocalStorage(root), nopTasks{}, checkpoint.DriverConfig{
		Coordinator: checkpoint.Config{Interval: time.Hour, Retain: 3, Tasks: []checkpoint.TaskID{{Task: "x"}}, Sources: []checkpoint.TaskID{{Task: "x"}}},
	}); err != nil {
		t.Fatal(err)
	}
	var referenced []string
	for _, md := range mds {
		referenced = append(referenced, sharedPathsOf(md)...)
	}
	slices.Sort(referenced)
	referenced = slices.Compact(referenced)
	if got := sharedFilesIn(t, root); !slices.Equal(got, referenced) {
		t.Fatalf("storage holds %d shared files %v, the 3 retained checkpoints reference %d: %v", len(got), got, len(referenced), referenced)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 4 { // chk-a, chk-b, chk-c, shared
		t.Errorf("checkpoint root holds %d entries, want 3 checkpoints and shared/", len(ents))
	}
	t.Logf("%d shared files referenced by checkpoints %d..%d", len(referenced), mds[0].ID, last.ID)

	// Restores of the latest checkpoint, without checkpointing.
	for _, tc := range []struct {
		backend string
		p       int
	}{{"lsm", 2}, {"lsm", 3}, {"lsm", 1}, {"heap", 3}, {"heap", 2}} {
		t.Run(fmt.Sprintf("restore/%s/p%d", tc.backend, tc.p), func(t *testing.T) {
			out := newFinals()
			x, err := engine.Start(context.Background(), sumJob(t, src, tc.p, pad, true, out),
				engine.Options{StateBackend: tc.backend, StateDir: t.TempDir(), RestoreFrom: root})
			if err != nil {
				t.Fatal(err)
			}
			if x.Restored().ID != last.ID {
				t.Fatalf("restored checkpoint %d, want %d", x.Restored().ID, last.ID)
			}
			if err := x.Wait(); err != nil {
				t.Fatal(err)
			}
			out.check(t, fmt.Sprintf("restored into %s at parallelism %d", tc.backend, tc.p), want)
		})
	}

	// A restore at the same parallelism that checkpoints into the same
	// storage references the tables it restored rather than uploading them
	// again: its first checkpoint writes little of the state.
	t.Run("restore/lsm/p2/checkpointing", func(t *testing.T) {
		out := newFinals()
		slow := src
		slow.pace = 60 * time.Millisecond
		var firstWritten, after atomic.Int64
		firstWritten.Store(-1)
		x, err := engine.Start(context.Background(), sumJob(t, slow, 2, pad, true, out), engine.Options{
			StateBackend: "lsm", StateDir: t.TempDir(), CheckpointDir: ck, RestoreFrom: root,
			CheckpointInterval: 30 * time.Millisecond, CheckpointsRetain: 3,
			OnCheckpoint: func(id int64, _ time.Duration, bytes int64) {
				if id == last.ID+1 {
					firstWritten.Store(bytes)
				}
				after.Add(1)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Wait(); err != nil {
			t.Fatal(err)
		}
		out.check(t, "restored and checkpointing", want)
		switch w := firstWritten.Load(); {
		case w < 0:
			t.Fatalf("checkpoint %d, the first after the restore, did not complete", last.ID+1)
		case w > lastState/4:
			t.Errorf("checkpoint %d, the first after the restore, wrote %d bytes of a state of %d: it uploaded the restored tables again", last.ID+1, w, lastState)
		default:
			t.Logf("checkpoint %d, the first after the restore, wrote %d bytes of a state of %d", last.ID+1, w, lastState)
		}
		// Retention went on across the restore: once swept, the storage
		// holds only what the checkpoints now retained reference.
		if _, err := checkpoint.NewDriver(checkpoint.NewLocalStorage(root), nopTasks{}, checkpoint.DriverConfig{
			Coordinator: checkpoint.Config{Interval: time.Hour, Retain: 3, Tasks: []checkpoint.TaskID{{Task: "x"}}, Sources: []checkpoint.TaskID{{Task: "x"}}},
		}); err != nil {
			t.Fatal(err)
		}
		var referenced []string
		for _, md := range retainedMetadata(t, root) {
			if md.ID <= last.ID && after.Load() >= 3 {
				t.Errorf("checkpoint %d of the first run is still retained after %d newer ones", md.ID, after.Load())
			}
			referenced = append(referenced, sharedPathsOf(md)...)
		}
		slices.Sort(referenced)
		if got := sharedFilesIn(t, root); !slices.Equal(got, slices.Compact(referenced)) {
			t.Fatalf("storage holds shared files %v, the retained checkpoints reference %v", got, referenced)
		}
	})
}

// sharedPathsOf lists the shared files md references.
func sharedPathsOf(md *checkpoint.Metadata) []string {
	var out []string
	for _, ts := range md.Tasks {
		for _, f := range ts.Shared {
			out = append(out, f.Path)
		}
	}
	return out
}

// tableName is the name a shared file has in its backend's store.
func tableName(p string) string {
	parts := strings.SplitN(filepath.Base(p), "-", 3)
	return parts[len(parts)-1]
}

// relay is the job master's side of a coordinated execution: it takes the
// tasks' acknowledgements as they travel the wire.
type relay struct {
	mu       sync.Mutex
	acks     map[int64][]checkpoint.TaskSnapshot
	declines []string
}

func (r *relay) Ack(id int64, t checkpoint.TaskID, s checkpoint.TaskSnapshot) {
	wire := &controlpb.SubtaskAck{Checkpoint: id, Subtask: deploy.SubtaskOf(t), Snapshot: deploy.SnapshotToProto(s)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks[id] = append(r.acks[id], deploy.SnapshotOf(wire))
}

func (r *relay) Decline(id int64, t checkpoint.TaskID, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.declines = append(r.declines, fmt.Sprintf("%d %v: %s", id, t, reason))
}

func (r *relay) Finished(checkpoint.TaskID) {}

// await waits for n acknowledgements of checkpoint id.
func (r *relay) await(t *testing.T, id int64, n int) []checkpoint.TaskSnapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		got, declines := slices.Clone(r.acks[id]), slices.Clone(r.declines)
		r.mu.Unlock()
		if len(declines) > 0 {
			t.Fatalf("declined: %v", declines)
		}
		if len(got) == n {
			slices.SortFunc(got, func(a, b checkpoint.TaskSnapshot) int { return strings.Compare(a.File, b.File) })
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %d: %d of %d acknowledgements within 30s", id, len(got), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestIncrementalCoordinatedAndSavepoint drives a worker-side execution as
// the job master does (its snapshots cross the wire): its checkpoints are
// incremental and reference the tables of the last completed one, while a
// savepoint in between is a full, self-contained snapshot that restores on
// its own at another parallelism into the heap backend.
func TestIncrementalCoordinatedAndSavepoint(t *testing.T) {
	const pad = 100
	src := rounds{keys: 5000, perRound: 50, last: 6, stall: 6, pace: 10 * time.Millisecond}
	ck, sp := t.TempDir(), t.TempDir()
	var round atomic.Int64
	held := src
	held.stall = 2
	g := sumJob(t, loadWatch{held, &round}, 2, pad, true, newFinals())
	var sources []checkpoint.TaskID
	for _, c := range g.Chains() {
		if c.Vertices[0].Source {
			sources = append(sources, checkpoint.TaskID{Task: c.ID})
		}
	}
	r := &relay{acks: map[int64][]checkpoint.TaskSnapshot{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x, err := engine.Start(ctx, g, engine.Options{StateBackend: "lsm", StateDir: t.TempDir(),
		CheckpointDir: ck, CheckpointInterval: time.Hour, Coordinated: r})
	if err != nil {
		t.Fatal(err)
	}
	for round.Load() <= held.stall {
		time.Sleep(2 * time.Millisecond)
	}
	storage := checkpoint.NewLocalStorage(filepath.Join(ck, "incsum"))
	complete := func(id int64, tasks []checkpoint.TaskSnapshot, st *checkpoint.Storage) {
		t.Helper()
		if err := st.WriteMetadata(checkpoint.Metadata{Job: g.Name, GraphHash: g.StateHash(), ID: id, Tasks: tasks}); err != nil {
			t.Fatal(err)
		}
	}
	x.TriggerCheckpoint(1, time.Now(), sources, nil)
	first := r.await(t, 1, 3)
	complete(1, first, storage)
	x.CompleteCheckpoint(1)

	x.TriggerCheckpoint(2, time.Now(), sources, &checkpoint.SavepointTrigger{Target: sp})
	save := r.await(t, 2, 3)
	for _, ts := range save {
		if ts.Incremental || len(ts.Shared) > 0 || ts.FileSize != 0 {
			t.Fatalf("savepoint snapshot of %s/%d is incremental (%d shared files): savepoints must be self-contained", ts.Task, ts.Subtask, len(ts.Shared))
		}
	}
	spStorage, err := checkpoint.OpenStorage(sp)
	if err != nil {
		t.Fatal(err)
	}
	complete(2, save, spStorage)

	x.TriggerCheckpoint(3, time.Now(), sources, nil)
	third := r.await(t, 3, 3)
	for k, ts := range third {
		if !ts.Incremental {
			continue
		}
		if !slices.Equal(ts.Shared, first[k].Shared) || ts.Size != ts.FileSize {
			t.Errorf("checkpoint 3 of %s/%d (nothing changed since 1) lists %v and wrote %d bytes (task file %d); want checkpoint 1's %v referenced, nothing uploaded",
				ts.Task, ts.Subtask, ts.Shared, ts.Size, ts.FileSize, first[k].Shared)
		}
	}
	cancel()
	x.Wait()

	out := newFinals()
	x2, err := engine.Start(context.Background(), sumJob(t, src, 3, pad, true, out), engine.Options{StateBackend: "heap", RestoreFrom: sp})
	if err != nil {
		t.Fatal(err)
	}
	if err := x2.Wait(); err != nil {
		t.Fatal(err)
	}
	out.check(t, "restored from the savepoint into heap at parallelism 3", src.sums())
}
