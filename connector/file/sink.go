package file

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// sinkBufferSize is the write buffer of a part file.
const sinkBufferSize = 256 << 10

// FileSink writes text lines into part files in a directory, a series of
// them per subtask: part-00000, part-00000-0001, part-00000-0002, ... for
// subtask 0. It implements task.Sink[T] and connector.Preparer. See
// docs/connectors.md for the user's view.
//
// A part file is written under a hidden in-progress name
// (.part-00000.<tag>.inprogress, the tag unique to the writer's attempt) and
// published — renamed to its final name — only once its records are
// committed, so a reader of the directory never sees half a file, nor
// records a restore will write again:
//
//   - The file rolls by the rolling policy (sink.rolling-policy.file-size and
//     .rollover-interval, see rollingPolicy): it is synced and closed and
//     becomes pending, and the next record starts the next file.
//   - A checkpoint's Snapshot syncs the in-progress file and records its
//     length, and records the pending files it covers.
//   - NotifyCheckpointComplete publishes the pending files of that checkpoint
//     and earlier ones: the two-phase commit of Flink's FileSink.
//   - Finish (end of input) publishes everything, so a bounded job that
//     never rolls ends with exactly one part-SSSSS per subtask.
//
// Output is exactly once across failures: a restore publishes the pending
// files of the (completed) checkpoint, cuts the in-progress file back to its
// recorded length (refusing a file shorter than it, whose committed data was
// lost), and removes the files written after the checkpoint, whose records
// are replayed.
//
// The sink owns its directory for its run (see owner.go): it refuses a
// directory another live run writes, checks before every publish that it
// still owns it, and never renames over a published file.
type FileSink[T any] struct {
	dir    string // as given, for messages
	fsys   vfs.FS
	path   string // inside fsys
	err    error  // from resolving dir
	format func(dst []byte, v T) []byte
	// now is the clock that ages part files and dates owner markers: time
	// is an input, so that tests can roll files by age without waiting.
	now func() time.Time
	// own is the run's hold on the directory; newTag makes the tag of a
	// writer's in-progress names.
	own    *ownership
	newTag func() string
}

// Sink returns a sink writing the records into dir, a local path or a URI
// (hdfs://...). format appends one record's line, without the newline, to
// dst and returns it (see Lines).
func Sink[T any](dir string, format func(dst []byte, v T) []byte) *FileSink[T] {
	fsys, p, err := vfs.Resolve(dir)
	return &FileSink[T]{dir: dir, fsys: fsys, path: p, err: err, format: format, now: time.Now, own: newOwnership(), newTag: attemptTag}
}

// SinkOn is Sink on a given file system, dir being a path inside it: for
// file systems no URI names, such as the strict in-memory one crash tests
// run on.
func SinkOn[T any](fsys vfs.FS, dir string, format func(dst []byte, v T) []byte) *FileSink[T] {
	return &FileSink[T]{dir: dir, fsys: fsys, path: dir, format: format, now: time.Now, own: newOwnership(), newTag: attemptTag}
}

// attemptTag is the tag of a writer's in-progress names: random, so that
// no two attempts, of one run or of two, write into the same file.
func attemptTag() string { return randomTag(8) }

// Lines is the format of string records: the string itself.
func Lines(dst []byte, s string) []byte { return append(dst, s...) }

// PartName is the final name of subtask i's first part file; later ones
// add a counter (see partFileName).
func PartName(subtask int) string { return fmt.Sprintf("part-%05d", subtask) }

// inProgressName is the hidden name under which the file final is written
// by a writer whose attempt has tag: .final.tag.inprogress. Final names
// have no dots, so the tag is what follows the first one. Sinks before
// tags wrote .final.inprogress (tag "").
func inProgressName(final, tag string) string {
	if tag == "" {
		return "." + final + inProgressSuffix
	}
	return "." + final + "." + tag + inProgressSuffix
}

const inProgressSuffix = ".inprogress"

// partFileName is the final name of file k of the series base: base itself
// for the first, so that a job that never rolls keeps the names part-SSSSS,
// then base-0001, base-0002, ... (more digits past 9999).
func partFileName(base string, k int64) string {
	if k == 0 {
		return base
	}
	return fmt.Sprintf("%s-%04d", base, k)
}

// seriesNumber reports whether name, final or in-progress, is a file of the
// series base, and which. Bases are part-SSSSS or part-SSSSS-cN, so no name
// of one series parses as a file of another.
func seriesNumber(name, base string) (int64, bool) {
	inner := name
	if strings.HasPrefix(name, ".") {
		var ok bool
		if inner, ok = strings.CutSuffix(name[1:], inProgressSuffix); !ok {
			return 0, false
		}
		inner, _, _ = strings.Cut(inner, ".") // the attempt's tag
	}
	if inner == base {
		return 0, true
	}
	digits, ok := strings.CutPrefix(inner, base+"-")
	if !ok || len(digits) < 4 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	k, err := strconv.ParseInt(digits, 10, 64)
	return k, err == nil && k > 0
}

// finalName turns ".part-00000.<tag>.inprogress" (or, without a tag,
// ".part-00000.inprogress") into "part-00000".
func finalName(inProgress string) string {
	n := strings.TrimPrefix(inProgress, ".")
	if s, ok := strings.CutSuffix(n, inProgressSuffix); ok && s != "" {
		s, _, _ = strings.Cut(s, ".")
		return s
	}
	return n
}

// Prepare creates the output directory and claims it for this run,
// refusing one that another live run owns (see owner.go). On a fresh start
// a directory that already holds visible files is an error: output is
// never mixed with an earlier job's. On a restore the files are left as
// they are: the writers restore them to the checkpoint.
func (s *FileSink[T]) Prepare(fresh bool) error {
	if s.err != nil {
		return s.err
	}
	if err := s.fsys.MkdirAll(s.path); err != nil {
		return fmt.Errorf("create output directory %s: %w", s.dir, err)
	}
	s.own.mu.Lock()
	defer s.own.mu.Unlock()
	s.own.prepared = true
	return s.claim(func() error {
		if !fresh {
			return nil
		}
		entries, err := s.fsys.ReadDir(s.path)
		if err != nil {
			return fmt.Errorf("list output directory %s: %w", s.dir, err)
		}
		for _, e := range entries {
			if !vfs.Hidden(e.Name()) {
				return fmt.Errorf("output directory %s is not empty (it has %s): remove it or choose another", s.dir, e.Name())
			}
		}
		return nil
	})
}

// NewWriter returns the writer of subtask i.
func (s *FileSink[T]) NewWriter(subtask, parallelism int) (task.SinkWriter[T], error) {
	if s.err != nil {
		return nil, s.err
	}
	if parallelism < 1 || subtask < 0 || subtask >= parallelism {
		return nil, fmt.Errorf("file sink %s: subtask %d of %d is out of range", s.dir, subtask, parallelism)
	}
	return &partWriter[T]{sink: s, subtask: subtask, parallelism: parallelism}, nil
}

// RestoresAtAnyParallelism implements task.RescalableConnector: a writer
// restored at another parallelism adopts the old subtasks' files.
func (s *FileSink[T]) RestoresAtAnyParallelism() {}

// partWriter writes one subtask's series of part files.
type partWriter[T any] struct {
	sink                 *FileSink[T]
	subtask, parallelism int
	policy               rollingPolicy
	// tag marks the in-progress files this writer starts; holds is set
	// while it holds the output directory (see FileSink.acquire).
	tag   string
	holds bool

	// base names the series (see partFileName); counter is the number of
	// its newest file: the in-progress one, or the last rolled while none
	// is in progress. Both are in the checkpoint state, so that a restore
	// continues the series and recognises the files written after it.
	base    string
	counter int64

	// The in-progress file; file is nil after a roll until the next record
	// (an empty file is never published for nothing) and after Finish.
	file    vfs.File
	name    string // its hidden name in the directory
	buf     *bufio.Writer
	written int64     // bytes written to it, buffered ones included
	first   time.Time // when its first record came: its age
	line    []byte

	// pending are closed, synced files awaiting their commit, in the order
	// they rolled. Each one's checkpoint is the one that covers it, 0 until
	// a Snapshot records it.
	pending []sinkFile
	// dirDirty is set when entries of the directory changed since its last
	// SyncDir: a file created, published or taken back. A Snapshot syncs it
	// before a state can count on those entries.
	dirDirty bool
}

func (w *partWriter[T]) full(name string) string { return path.Join(w.sink.path, name) }

// Open reads the rolling policy, then starts the subtask's series, or
// continues it from a restored checkpoint state (see restore). Restored at
// another parallelism (ctx.Rescaled), subtask j of n takes over the states
// of the checkpoint's subtasks i with i mod n == j: it continues the series
// of subtask j (if it existed) and adopts the others' in-progress files as
// pending files, to be published by its next completed checkpoint or at
// Finish.
func (w *partWriter[T]) Open(ctx *task.Context) error {
	var config map[string]string
	if ctx != nil {
		config = ctx.Config
	}
	policy, err := rollingPolicyOf(config)
	if err != nil {
		return fmt.Errorf("file sink %s: %w", w.sink.dir, err)
	}
	w.policy = policy
	w.tag = w.sink.newTag()
	if err := w.sink.acquire(); err != nil {
		return err
	}
	w.holds = true
	switch {
	case ctx != nil && ctx.Rescaled != nil:
		return w.openRescaled(ctx.Rescaled)
	case ctx != nil && ctx.Restored != nil:
		st, err := decodeSinkState(ctx.Restored)
		if err != nil {
			return err
		}
		return w.restore(&st, nil, st.checkpoint)
	}
	// A fresh start. Files of this subtask's series from an attempt that
	// restarted from scratch are rewritten, so none may stay: neither
	// published ones nor hidden ones a later restore could mistake for its
	// own. The removals become durable with the directory sync of the first
	// checkpoint.
	w.base = PartName(w.subtask)
	entries, err := w.list()
	if err != nil {
		return err
	}
	if err := w.removeSeries(entries, w.base, -1); err != nil {
		return err
	}
	return w.startFile(0)
}

// openRescaled takes this subtask's share of the states of a checkpoint
// taken at another parallelism.
func (w *partWriter[T]) openRescaled(states [][]byte) error {
	var own *sinkState
	var others []*sinkState
	// The checkpoint's id, from any subtask's state: it names new series.
	var id int64
	for i, b := range states {
		if b == nil {
			continue
		}
		st, err := decodeSinkState(b)
		if err != nil {
			return fmt.Errorf("%w (state of the checkpoint's subtask %d)", err, i)
		}
		id = max(id, st.checkpoint)
		switch {
		case i == w.subtask:
			own = &st
		case i%w.parallelism == w.subtask:
			others = append(others, &st)
		}
	}
	return w.restore(own, others, id)
}

// restore continues from states of a completed checkpoint: own is this
// subtask's (nil for a subtask the checkpoint did not have), others are
// those of old subtasks it takes over. Because the checkpoint completed,
// the pending files of every state are committed: they are published. The
// in-progress files are cut back to their recorded length: own's is
// continued, the others' become pending. Every series' files numbered past
// its recorded counter were written after the checkpoint: their records
// are replayed, so they are removed, published or not.
func (w *partWriter[T]) restore(own *sinkState, others []*sinkState, id int64) error {
	// One listing serves every series: the renames below only touch files
	// a state counts on, never ones numbered past its counter.
	entries, err := w.list()
	if err != nil {
		return err
	}
	published := false
	for _, st := range append([]*sinkState{own}, others...) {
		if st == nil {
			continue
		}
		for _, f := range st.pending {
			did, err := w.commitRestored(f, st.checkpoint)
			if err != nil {
				return err
			}
			published = published || did
		}
	}
	for _, st := range others {
		if err := w.removeSeries(entries, st.base, st.counter); err != nil {
			return err
		}
		if st.current == nil {
			continue
		}
		if err := w.reclaim(*st.current, st.checkpoint); err != nil {
			return err
		}
		w.pending = append(w.pending, sinkFile{name: st.current.name, length: st.current.length})
	}
	if err := w.continueSeries(entries, own, id); err != nil {
		return err
	}
	if !published {
		return nil // the next Snapshot syncs what changed
	}
	// Commit the published files now: the next checkpoint's state will not
	// list them any more.
	if err := w.sink.fsys.SyncDir(w.sink.path); err != nil {
		return fmt.Errorf("file sink: restore from %s: publish its committed files: sync directory %s: %w", checkpointName(id), w.sink.dir, err)
	}
	w.dirDirty = false
	return nil
}

// continueSeries continues the series of own, the restored state of this
// subtask, or starts a new one if the checkpoint had no such subtask.
func (w *partWriter[T]) continueSeries(entries []iofs.FileInfo, own *sinkState, id int64) error {
	if own == nil {
		// A new subtask: a series no subtask of the checkpoint has (theirs
		// may be continued or adopted by others), unique per restored
		// checkpoint. An earlier restore from the same checkpoint may have
		// left files of it: their records are replayed too.
		w.base = fmt.Sprintf("%s-c%d", PartName(w.subtask), id)
		if err := w.removeSeries(entries, w.base, -1); err != nil {
			return err
		}
		return w.startFile(0)
	}
	w.base, w.counter = own.base, own.counter
	if err := w.removeSeries(entries, own.base, own.counter); err != nil {
		return err
	}
	if own.current == nil {
		return nil // the next record starts file counter+1
	}
	return w.resume(*own.current, own.first, own.checkpoint)
}

// commitRestored publishes f, a pending file of a completed checkpoint, and
// reports whether it renamed it. The failed run may have published it
// already; if neither name exists, its records are lost.
func (w *partWriter[T]) commitRestored(f sinkFile, checkpointID int64) (bool, error) {
	fsys := w.sink.fsys
	hidden, final := w.full(f.name), w.full(finalName(f.name))
	p, renamed := hidden, true
	fi, err := fsys.Stat(hidden)
	if errors.Is(err, iofs.ErrNotExist) {
		p, renamed = final, false
		fi, err = fsys.Stat(final)
		if errors.Is(err, iofs.ErrNotExist) {
			return false, fmt.Errorf("file sink: restore from %s: its committed file %s is gone, and %s does not exist either: its records are lost, so the job cannot resume exactly once",
				checkpointName(checkpointID), hidden, final)
		}
	}
	if err != nil {
		return false, fmt.Errorf("file sink: restore from %s: committed file %s: %w", checkpointName(checkpointID), p, err)
	}
	if fi.Size() != f.length {
		return false, fmt.Errorf("file sink: restore from %s: committed file %s has %d bytes but the checkpoint recorded %d (was the file changed?), so the job cannot resume exactly once",
			checkpointName(checkpointID), p, fi.Size(), f.length)
	}
	if !renamed {
		return false, nil
	}
	if err := w.refuseOverwrite(final, hidden, fmt.Sprintf(" (committed by %s)", checkpointName(checkpointID))); err != nil {
		return false, err
	}
	if err := fsys.Rename(hidden, final); err != nil {
		return false, fmt.Errorf("file sink: restore from %s: publish %s: %w", checkpointName(checkpointID), final, err)
	}
	w.dirDirty = true
	return true, nil
}

// list lists the output directory for removeSeries.
func (w *partWriter[T]) list() ([]iofs.FileInfo, error) {
	entries, err := w.sink.fsys.ReadDir(w.sink.path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil // then creating a file says what is wrong
	}
	if err != nil {
		return nil, fmt.Errorf("file sink: list output directory %s: %w", w.sink.dir, err)
	}
	return entries, nil
}

// removeSeries removes the files among entries of the series base, final
// and in-progress, numbered past keep (-1: all of them).
func (w *partWriter[T]) removeSeries(entries []iofs.FileInfo, base string, keep int64) error {
	for _, e := range entries {
		if k, ok := seriesNumber(e.Name(), base); ok && k > keep {
			p := w.full(e.Name())
			if err := w.sink.fsys.RemoveAll(p); err != nil {
				return fmt.Errorf("file sink: remove %s, written after the checkpoint being restored or by an attempt that restarted from scratch: %w", p, err)
			}
			w.dirDirty = true
		}
	}
	return nil
}

// startFile starts file k of the series as the in-progress file.
func (w *partWriter[T]) startFile(k int64) error {
	name := inProgressName(partFileName(w.base, k), w.tag)
	f, err := w.sink.fsys.Create(w.full(name))
	if err != nil {
		return fmt.Errorf("file sink: create %s: %w", w.full(name), err)
	}
	w.counter, w.name, w.dirDirty = k, name, true
	w.setFile(f, 0, time.Time{})
	return nil
}

// resume reclaims this subtask's in-progress file at its checkpointed
// length and appends to it. first is when its first record came (zero:
// not known, the age counts from now).
func (w *partWriter[T]) resume(own sinkFile, first time.Time, checkpointID int64) error {
	if err := w.reclaim(own, checkpointID); err != nil {
		return err
	}
	w.name = own.name
	inProgress := w.full(own.name)
	f, err := w.sink.fsys.Append(inProgress)
	if err != nil {
		return fmt.Errorf("file sink: reopen %s: %w", inProgress, err)
	}
	if first.IsZero() && own.length > 0 {
		first = w.sink.now()
	}
	w.setFile(f, own.length, first)
	return nil
}

// reclaim makes the in-progress file f exactly the length a checkpoint
// recorded: taken back from its final name if a failed run published it,
// cut back if it grew after the checkpoint, refused if it is shorter.
func (w *partWriter[T]) reclaim(f sinkFile, checkpointID int64) error {
	fsys := w.sink.fsys
	checkpoint := checkpointName(checkpointID)
	inProgress := w.full(f.name)
	fi, err := fsys.Stat(inProgress)
	if errors.Is(err, iofs.ErrNotExist) {
		// The failed run may have published it already: take it back.
		final := w.full(finalName(f.name))
		if rerr := fsys.Rename(final, inProgress); rerr != nil {
			return fmt.Errorf("file sink: restore %s: neither it nor %s can be used: %w", inProgress, final, rerr)
		}
		// Make the rename durable before the file is cut: Truncate is
		// durable at once, so a crash between the two would otherwise
		// bring back the published name on a cut file.
		if err := fsys.SyncDir(w.sink.path); err != nil {
			return fmt.Errorf("file sink: restore %s: take it back from %s: sync directory %s: %w", inProgress, final, w.sink.dir, err)
		}
		fi, err = fsys.Stat(inProgress)
	}
	if err != nil {
		return fmt.Errorf("file sink: restore %s: %w", inProgress, err)
	}
	switch size := fi.Size(); {
	case size < f.length:
		// Bytes the checkpoint counts as written are gone: appending would
		// lose them silently, and truncating upward would publish zeros.
		return fmt.Errorf("file sink: restore %s: the file has %d bytes but %s recorded %d; "+
			"output the checkpoint counts as written is lost (was the file changed, or its sync lost?), so the job cannot resume exactly once",
			inProgress, size, checkpoint, f.length)
	case size > f.length:
		// Written after the checkpoint: those records are replayed.
		if err := fsys.Truncate(inProgress, f.length); err != nil {
			return fmt.Errorf("file sink: restore %s: cut it from %d bytes to the %d of %s: %w", inProgress, size, f.length, checkpoint, err)
		}
	}
	return nil
}

// checkpointName names a checkpoint in messages; states written before the
// id was recorded have 0.
func checkpointName(id int64) string {
	if id > 0 {
		return fmt.Sprintf("checkpoint %d", id)
	}
	return "the checkpoint"
}

func (w *partWriter[T]) setFile(f vfs.File, length int64, first time.Time) {
	w.file, w.written, w.first = f, length, first
	if w.buf == nil {
		w.buf = bufio.NewWriterSize(f, sinkBufferSize)
	} else {
		w.buf.Reset(f)
	}
}

// Write formats the batch's records as lines into the buffer, starting the
// next file of the series if the last one rolled, and rolls the file when
// the policy says so. It reads the clock once per batch, not per record.
func (w *partWriter[T]) Write(b *task.Batch[T]) error {
	if len(b.Values) == 0 {
		return nil
	}
	if w.file == nil {
		if err := w.startFile(w.counter + 1); err != nil {
			return err
		}
	}
	now := w.sink.now()
	if w.written == 0 {
		w.first = now
	}
	for _, v := range b.Values {
		w.line = append(w.sink.format(w.line[:0], v), '\n')
		n, err := w.buf.Write(w.line)
		w.written += int64(n)
		if err != nil {
			return fmt.Errorf("file sink: write %s: %w", w.full(w.name), err)
		}
	}
	if w.policy.due(w.written, now.Sub(w.first)) {
		return w.roll("")
	}
	return nil
}

// roll flushes, syncs and closes the in-progress file and makes it pending.
// why is added to error messages ("for checkpoint 3").
func (w *partWriter[T]) roll(why string) error {
	p := w.full(w.name)
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("file sink: flush %s%s: %w", p, why, err)
	}
	f := w.file
	w.file = nil
	err := f.Sync()
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("file sink: close %s%s: %w", p, why, cerr)
	}
	if err != nil {
		return fmt.Errorf("file sink: sync %s (%d bytes)%s: %w", p, w.written, why, err)
	}
	w.pending = append(w.pending, sinkFile{name: w.name, length: w.written})
	return nil
}

// Snapshot first rolls the in-progress file if it is due (so a file due at
// a checkpoint is covered by it), flushes and syncs it, and syncs the
// directory if entries changed; only then does it return the state: the
// series, the in-progress file and its length, and the pending files this
// checkpoint covers, so that a restore never counts on data a crash lost.
func (w *partWriter[T]) Snapshot(checkpointID int64) ([]byte, error) {
	why := fmt.Sprintf(" for checkpoint %d", checkpointID)
	if w.file != nil && w.written > 0 && w.policy.due(w.written, w.sink.now().Sub(w.first)) {
		if err := w.roll(why); err != nil {
			return nil, err
		}
	}
	if w.file != nil {
		p := w.full(w.name)
		if err := w.buf.Flush(); err != nil {
			return nil, fmt.Errorf("file sink: flush %s%s: %w", p, why, err)
		}
		if err := w.file.Sync(); err != nil {
			return nil, fmt.Errorf("file sink: sync %s (%d bytes)%s: %w", p, w.written, why, err)
		}
	}
	if w.dirDirty {
		if err := w.sink.fsys.SyncDir(w.sink.path); err != nil {
			return nil, fmt.Errorf("file sink: sync directory %s%s: %w", w.sink.dir, why, err)
		}
		w.dirDirty = false
	}
	st := sinkState{checkpoint: checkpointID, base: w.base, counter: w.counter}
	for i := range w.pending {
		if w.pending[i].checkpoint == 0 {
			w.pending[i].checkpoint = checkpointID
		}
	}
	st.pending = w.pending
	if w.file != nil {
		st.current = &sinkFile{name: w.name, length: w.written}
		st.first = w.first
	}
	return encodeSinkState(st), nil
}

// NotifyCheckpointComplete publishes the pending files covered by
// checkpoint id or an earlier one, then syncs the directory: they are
// committed. Files rolled after that checkpoint stay hidden.
func (w *partWriter[T]) NotifyCheckpointComplete(id int64) error {
	var due, keep []sinkFile
	for _, f := range w.pending {
		if f.checkpoint != 0 && f.checkpoint <= id {
			due = append(due, f)
		} else {
			keep = append(keep, f)
		}
	}
	if len(due) == 0 {
		return nil
	}
	if err := w.sink.checkOwner(fmt.Sprintf("the files of checkpoint %d", id)); err != nil {
		return err
	}
	for i, f := range due {
		final := w.full(finalName(f.name))
		err := w.refuseOverwrite(final, w.full(f.name), fmt.Sprintf(" (committed by checkpoint %d)", f.checkpoint))
		if err == nil {
			err = w.sink.fsys.Rename(w.full(f.name), final)
		}
		if err != nil {
			w.pending = append(due[i:], keep...)
			return fmt.Errorf("file sink: publish %s, committed by checkpoint %d: %w", final, f.checkpoint, err)
		}
		w.dirDirty = true
	}
	w.pending = keep
	// Should this sync fail, dirDirty makes the next Snapshot sync the
	// directory before its state leaves the published files out.
	if err := w.sink.fsys.SyncDir(w.sink.path); err != nil {
		return fmt.Errorf("file sink: publish the files of checkpoint %d: sync directory %s: %w", id, w.sink.dir, err)
	}
	w.dirDirty = false
	return nil
}

// Finish closes the in-progress file and publishes it with every pending
// one under their final names, then syncs the directory so that the
// published files survive a crash (and so do the removals of files a
// restore found written after its checkpoint). Its hold on the directory
// ends: the last writer's releases the run's claim.
func (w *partWriter[T]) Finish() error {
	if w.file != nil {
		if err := w.roll(""); err != nil {
			return err
		}
	}
	if len(w.pending) > 0 {
		if err := w.sink.checkOwner(fmt.Sprintf("the part files of subtask %d", w.subtask)); err != nil {
			return err
		}
	}
	for i, f := range w.pending {
		final := w.full(finalName(f.name))
		err := w.refuseOverwrite(final, w.full(f.name), "")
		if err == nil {
			err = w.sink.fsys.Rename(w.full(f.name), final)
		}
		if err != nil {
			w.pending = w.pending[i:]
			return fmt.Errorf("file sink: publish %s: %w", final, err)
		}
	}
	w.pending = nil
	if err := w.sink.fsys.SyncDir(w.sink.path); err != nil {
		return fmt.Errorf("file sink: publish the part files of subtask %d at end of input: sync directory %s: %w", w.subtask, w.sink.dir, err)
	}
	w.dirDirty = false
	return w.release()
}

// refuseOverwrite fails if a file named final exists: a published file is
// never replaced, and the only one that may have this name is this run's
// own (another run wrote it, or the directory was changed by hand).
func (w *partWriter[T]) refuseOverwrite(final, hidden, why string) error {
	_, err := w.sink.fsys.Stat(final)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("file sink: publish %s%s: %w", final, why, err)
	}
	return fmt.Errorf("file sink: publish %s%s: a file of that name exists already, which this run did not publish (did another run write into %s?); it is left as it is, and this run's file stays hidden as %s",
		final, why, w.sink.dir, hidden)
}

// release ends the writer's hold on the directory, once.
func (w *partWriter[T]) release() error {
	if !w.holds {
		return nil
	}
	w.holds = false
	return w.sink.releaseWriter()
}

// Close closes the in-progress file if Finish did not, and ends the
// writer's hold on the directory; unfinished and pending files are left
// hidden for a restore to pick up.
func (w *partWriter[T]) Close() error {
	err := w.release()
	if w.file == nil {
		return err
	}
	f := w.file
	w.file = nil
	if cerr := f.Close(); cerr != nil {
		return fmt.Errorf("file sink: close %s: %w", w.full(w.name), cerr)
	}
	return err
}

// sinkFile is a part file under its in-progress name and its length at a
// checkpoint.
type sinkFile struct {
	name   string
	length int64
	// checkpoint is, for a pending file, the checkpoint that covers it.
	checkpoint int64
}

// sinkState is a writer's checkpoint state.
type sinkState struct {
	checkpoint int64 // the id, for messages and new series' names
	// base and counter are the writer's series and the number of its newest
	// file (see partWriter).
	base    string
	counter int64
	// current is the in-progress file, nil if the last one rolled; first is
	// when its first record came (zero: unknown).
	current *sinkFile
	first   time.Time
	// pending are the closed files this checkpoint or an earlier one covers
	// that were not published yet: published by a restore, since the
	// checkpoint it restores completed.
	pending []sinkFile
}

// sinkStateVersion is the version of encodeSinkState's encoding. A state
// starts with a 0 byte, then the version: the states of earlier sinks
// (decodeLegacySinkState) start with their file name's length, never 0.
const sinkStateVersion = 1

// encodeSinkState writes, after the 0 byte and the version: the checkpoint
// id, the base and the counter; 1 and the in-progress file's name, length
// and first record's time (Unix nanoseconds, 0 unknown), or 0 if there is
// none; the number of pending files, then each one's name, length and
// covering checkpoint. Integers are varints, strings a uvarint length and
// the bytes.
func encodeSinkState(st sinkState) []byte {
	b := []byte{0, sinkStateVersion}
	b = binary.AppendVarint(b, st.checkpoint)
	b = appendString(b, st.base)
	b = binary.AppendVarint(b, st.counter)
	if st.current == nil {
		b = append(b, 0)
	} else {
		var first int64
		if !st.first.IsZero() {
			first = st.first.UnixNano()
		}
		b = append(b, 1)
		b = appendString(b, st.current.name)
		b = binary.AppendVarint(b, st.current.length)
		b = binary.AppendVarint(b, first)
	}
	b = binary.AppendUvarint(b, uint64(len(st.pending)))
	for _, f := range st.pending {
		b = appendString(b, f.name)
		b = binary.AppendVarint(b, f.length)
		b = binary.AppendVarint(b, f.checkpoint)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// stateReader reads a state's fields, remembering the first failure.
type stateReader struct {
	b  []byte
	ok bool
}

func (r *stateReader) varint() int64 {
	v, k := binary.Varint(r.b)
	if k <= 0 || v < 0 {
		r.ok = false
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *stateReader) uvarint() uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.ok = false
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *stateReader) byte() byte {
	if len(r.b) == 0 {
		r.ok = false
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// name reads a file name: one component, non-empty.
func (r *stateReader) name() string {
	n := r.uvarint()
	if !r.ok || n == 0 || n > uint64(len(r.b)) {
		r.ok = false
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	if path.Base(s) != s || s == "." || s == ".." {
		r.ok = false
	}
	return s
}

// inProgress reads the in-progress name of a part file.
func (r *stateReader) inProgress() string {
	s := r.name()
	if inner, ok := strings.CutSuffix(s, inProgressSuffix); !ok || len(inner) < 2 || inner[0] != '.' || vfs.Hidden(inner[1:]) {
		r.ok = false
	}
	return s
}

func decodeSinkState(b []byte) (sinkState, error) {
	corrupt := fmt.Errorf("file sink: corrupt checkpoint state (%d bytes)", len(b))
	if len(b) > 0 && b[0] != 0 {
		st, ok := decodeLegacySinkState(b)
		if !ok {
			return sinkState{}, corrupt
		}
		return st, nil
	}
	if len(b) < 2 {
		return sinkState{}, corrupt
	}
	if b[1] != sinkStateVersion {
		return sinkState{}, fmt.Errorf("file sink: checkpoint state of version %d, but this sink reads version %d: restore with the loom version that wrote the checkpoint", b[1], sinkStateVersion)
	}
	r := &stateReader{b: b[2:], ok: true}
	var st sinkState
	st.checkpoint = r.varint()
	st.base = r.name()
	if vfs.Hidden(st.base) {
		r.ok = false
	}
	st.counter = r.varint()
	switch r.byte() {
	case 0:
	case 1:
		st.current = &sinkFile{name: r.inProgress(), length: r.varint()}
		if first := r.varint(); first != 0 {
			st.first = time.Unix(0, first)
		}
	default:
		r.ok = false
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every file takes bytes: no huge allocation
		r.ok = false
	}
	for i := uint64(0); r.ok && i < n; i++ {
		st.pending = append(st.pending, sinkFile{name: r.inProgress(), length: r.varint(), checkpoint: r.varint()})
	}
	if !r.ok || len(r.b) != 0 {
		return sinkState{}, corrupt
	}
	return st, nil
}

// decodeLegacySinkState reads the state of sinks that wrote one part file
// per subtask, published at Finish: its in-progress file's name and length,
// then (if written) the checkpoint id, then (if any) the number of files
// adopted from subtasks of another parallelism and each one's name and
// length. It is a series of one file, and the adopted files, complete at
// their length, are pending files of that checkpoint.
func decodeLegacySinkState(b []byte) (sinkState, bool) {
	r := &stateReader{b: b, ok: true}
	own := sinkFile{name: r.inProgress(), length: r.varint()}
	if !r.ok {
		return sinkState{}, false
	}
	st := sinkState{base: finalName(own.name), current: &own}
	if len(r.b) == 0 {
		return st, true
	}
	st.checkpoint = r.varint()
	if len(r.b) == 0 {
		return st, r.ok
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return sinkState{}, false
	}
	for i := uint64(0); r.ok && i < n; i++ {
		st.pending = append(st.pending, sinkFile{name: r.inProgress(), length: r.varint(), checkpoint: st.checkpoint})
	}
	return st, r.ok && len(r.b) == 0
}
