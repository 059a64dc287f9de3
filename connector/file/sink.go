package file

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	iofs "io/fs"
	"path"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// sinkBufferSize is the write buffer of a part file.
const sinkBufferSize = 256 << 10

// FileSink writes text lines into one part file per subtask in a directory:
// part-00000, part-00001, ... Each is written as a hidden in-progress file
// (.part-00000.inprogress) and renamed to its final name at Finish, so a
// reader of the directory never sees half a file. It implements
// task.Sink[T] and connector.Preparer.
//
// Output is exactly once across failures: at every checkpoint a writer
// syncs its in-progress file and records its length; a restore cuts the file
// back to that length (refusing a file shorter than it, whose committed data
// was lost) and appends. Finish syncs the file, renames it and syncs the
// directory, so published output survives a crash.
type FileSink[T any] struct {
	dir    string // as given, for messages
	fsys   vfs.FS
	path   string // inside fsys
	err    error  // from resolving dir
	format func(dst []byte, v T) []byte
}

// Sink returns a sink writing the records into dir, a local path or a URI
// (hdfs://...). format appends one record's line, without the newline, to
// dst and returns it (see Lines).
func Sink[T any](dir string, format func(dst []byte, v T) []byte) *FileSink[T] {
	fsys, p, err := vfs.Resolve(dir)
	return &FileSink[T]{dir: dir, fsys: fsys, path: p, err: err, format: format}
}

// SinkOn is Sink on a given file system, dir being a path inside it: for
// file systems no URI names, such as the strict in-memory one crash tests
// run on.
func SinkOn[T any](fsys vfs.FS, dir string, format func(dst []byte, v T) []byte) *FileSink[T] {
	return &FileSink[T]{dir: dir, fsys: fsys, path: dir, format: format}
}

// Lines is the format of string records: the string itself.
func Lines(dst []byte, s string) []byte { return append(dst, s...) }

// PartName is the final name of subtask i's part file.
func PartName(subtask int) string { return fmt.Sprintf("part-%05d", subtask) }

// InProgressName is the name subtask i's part file has while it is written.
func InProgressName(subtask int) string { return "." + PartName(subtask) + ".inprogress" }

// Prepare creates the output directory. On a fresh start a directory that
// already holds visible files is an error: output is never mixed with an
// earlier job's. On a restore the files are left as they are: the writers
// truncate their in-progress files to the checkpoint.
func (s *FileSink[T]) Prepare(fresh bool) error {
	if s.err != nil {
		return s.err
	}
	if err := s.fsys.MkdirAll(s.path); err != nil {
		return fmt.Errorf("create output directory %s: %w", s.dir, err)
	}
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

// partWriter writes one subtask's part file.
type partWriter[T any] struct {
	sink                 *FileSink[T]
	subtask, parallelism int
	ctx                  *task.Context

	name    string // in-progress file name in the directory
	file    vfs.File
	buf     *bufio.Writer
	written int64 // bytes written to the file, buffered ones included
	line    []byte
	// entrySynced is set once the directory was synced with the in-progress
	// file in it: until then a crash may lose the file's name, synced bytes
	// and all.
	entrySynced bool
	// adopted are in-progress files of a checkpoint's subtasks of another
	// parallelism this writer took over: published with its own at Finish.
	adopted []sinkFile
	done    bool // published by Finish
}

func (w *partWriter[T]) full(name string) string { return path.Join(w.sink.path, name) }

// Open starts a new in-progress file, or on restore cuts the saved one back to
// its length at the checkpoint and appends to it. Restored at another
// parallelism (ctx.Rescaled), subtask j of n takes over the files of the
// checkpoint's subtasks i with i mod n == j: the one of subtask j (if it
// existed) is continued, the others are cut back to their checkpointed
// length and adopted, to be published with its own file at Finish.
func (w *partWriter[T]) Open(ctx *task.Context) error {
	w.ctx = ctx
	fsys := w.sink.fsys
	if ctx != nil && ctx.Rescaled != nil {
		return w.openRescaled(ctx.Rescaled)
	}
	if ctx == nil || ctx.Restored == nil {
		w.name = InProgressName(w.subtask)
		// A part file of this job from an attempt that restarted from
		// scratch is rewritten, so it must not stay published. The removal
		// becomes durable with the directory sync of the first checkpoint.
		if err := fsys.RemoveAll(w.full(PartName(w.subtask))); err != nil {
			return fmt.Errorf("file sink: remove stale %s: %w", w.full(PartName(w.subtask)), err)
		}
		return w.create(w.name)
	}
	st, err := decodeSinkState(ctx.Restored)
	if err != nil {
		return err
	}
	for _, f := range st.adopted {
		if err := w.reclaim(f, st.checkpoint); err != nil {
			return err
		}
	}
	w.adopted = st.adopted
	return w.resume(st.own, st.checkpoint)
}

// openRescaled takes this subtask's share of the files of a checkpoint
// taken at another parallelism.
func (w *partWriter[T]) openRescaled(states [][]byte) error {
	var own *sinkFile
	// The checkpoint's id, from any subtask's state: it names new files.
	var id int64
	decoded := make([]*sinkState, len(states))
	for i, b := range states {
		if b == nil {
			continue
		}
		st, err := decodeSinkState(b)
		if err != nil {
			return fmt.Errorf("%w (state of the checkpoint's subtask %d)", err, i)
		}
		decoded[i], id = &st, max(id, st.checkpoint)
	}
	for i, st := range decoded {
		if st == nil || i%w.parallelism != w.subtask {
			continue
		}
		files := st.adopted
		if i == w.subtask {
			f := st.own
			own = &f
		} else {
			files = append([]sinkFile{st.own}, files...)
		}
		for _, f := range files {
			if err := w.reclaim(f, st.checkpoint); err != nil {
				return err
			}
			w.adopted = append(w.adopted, f)
		}
	}
	if own != nil {
		return w.resume(*own, id)
	}
	// A new subtask: a name no file of the checkpoint has (those of the
	// old subtasks may be adopted by others), unique per restored checkpoint.
	w.name = fmt.Sprintf(".%s-c%d.inprogress", PartName(w.subtask), id)
	return w.create(w.name)
}

// create starts the in-progress file name.
func (w *partWriter[T]) create(name string) error {
	f, err := w.sink.fsys.Create(w.full(name))
	if err != nil {
		return fmt.Errorf("file sink: create %s: %w", w.full(name), err)
	}
	w.setFile(f, 0)
	return nil
}

// resume reclaims this subtask's in-progress file at its checkpointed
// length and appends to it.
func (w *partWriter[T]) resume(own sinkFile, checkpointID int64) error {
	if err := w.reclaim(own, checkpointID); err != nil {
		return err
	}
	w.name = own.name
	inProgress := w.full(own.name)
	f, err := w.sink.fsys.Append(inProgress)
	if err != nil {
		return fmt.Errorf("file sink: reopen %s: %w", inProgress, err)
	}
	w.setFile(f, own.length)
	return nil
}

// reclaim makes the in-progress file f exactly the length a checkpoint
// recorded: taken back from its final name if a failed run published it,
// cut back if it grew after the checkpoint, refused if it is shorter.
func (w *partWriter[T]) reclaim(f sinkFile, checkpointID int64) error {
	fsys := w.sink.fsys
	checkpoint := "the checkpoint"
	if checkpointID > 0 {
		checkpoint = fmt.Sprintf("checkpoint %d", checkpointID)
	}
	inProgress := w.full(f.name)
	fi, err := fsys.Stat(inProgress)
	if errors.Is(err, iofs.ErrNotExist) {
		// The failed run may have published it already: take it back.
		final := w.full(finalName(f.name))
		if rerr := fsys.Rename(final, inProgress); rerr != nil {
			return fmt.Errorf("file sink: restore %s: neither it nor %s can be used: %w", inProgress, final, rerr)
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

func (w *partWriter[T]) setFile(f vfs.File, length int64) {
	w.file, w.written, w.entrySynced = f, length, false
	if w.buf == nil {
		w.buf = bufio.NewWriterSize(f, sinkBufferSize)
	} else {
		w.buf.Reset(f)
	}
}

// finalName turns ".part-00000.inprogress" into "part-00000".
func finalName(inProgress string) string {
	n := inProgress
	if len(n) > 0 && n[0] == '.' {
		n = n[1:]
	}
	const suffix = ".inprogress"
	if len(n) > len(suffix) && n[len(n)-len(suffix):] == suffix {
		n = n[:len(n)-len(suffix)]
	}
	return n
}

// Write formats the batch's records as lines into the buffer.
func (w *partWriter[T]) Write(b *task.Batch[T]) error {
	for _, v := range b.Values {
		w.line = append(w.sink.format(w.line[:0], v), '\n')
		n, err := w.buf.Write(w.line)
		w.written += int64(n)
		if err != nil {
			return fmt.Errorf("file sink: write %s: %w", w.full(w.name), err)
		}
	}
	return nil
}

// Snapshot flushes and syncs the in-progress file — and, the first time,
// its directory — and returns (in-progress file name, length): the length is
// only recorded once those bytes are durable, so a restore never counts on
// data a crash lost.
func (w *partWriter[T]) Snapshot(checkpointID int64) ([]byte, error) {
	p := w.full(w.name)
	if err := w.buf.Flush(); err != nil {
		return nil, fmt.Errorf("file sink: flush %s for checkpoint %d: %w", p, checkpointID, err)
	}
	if err := w.file.Sync(); err != nil {
		return nil, fmt.Errorf("file sink: sync %s (%d bytes) for checkpoint %d: %w", p, w.written, checkpointID, err)
	}
	if !w.entrySynced {
		if err := w.sink.fsys.SyncDir(w.sink.path); err != nil {
			return nil, fmt.Errorf("file sink: sync directory %s for checkpoint %d: %w", w.sink.dir, checkpointID, err)
		}
		w.entrySynced = true
	}
	return encodeSinkState(sinkState{own: sinkFile{w.name, w.written}, checkpoint: checkpointID, adopted: w.adopted}), nil
}

// NotifyCheckpointComplete does nothing: part files are published at Finish.
func (w *partWriter[T]) NotifyCheckpointComplete(int64) error { return nil }

// Finish flushes, syncs, closes and publishes the part file under its final
// name, then syncs the directory so that the published file survives a
// crash.
func (w *partWriter[T]) Finish() error {
	p := w.full(w.name)
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("file sink: flush %s: %w", p, err)
	}
	f := w.file
	w.file = nil
	err := f.Sync()
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("file sink: close %s: %w", p, cerr)
	}
	if err != nil {
		return fmt.Errorf("file sink: sync %s (%d bytes): %w", p, w.written, err)
	}
	final := w.full(finalName(w.name))
	if err := w.sink.fsys.Rename(p, final); err != nil {
		return fmt.Errorf("file sink: publish %s: %w", final, err)
	}
	// Files adopted from subtasks of another parallelism are complete at
	// their checkpointed length (reclaim made it durable).
	for _, f := range w.adopted {
		if err := w.sink.fsys.Rename(w.full(f.name), w.full(finalName(f.name))); err != nil {
			return fmt.Errorf("file sink: publish %s: %w", w.full(finalName(f.name)), err)
		}
	}
	if err := w.sink.fsys.SyncDir(w.sink.path); err != nil {
		return fmt.Errorf("file sink: publish %s: sync directory %s: %w", final, w.sink.dir, err)
	}
	w.done = true
	return nil
}

// Close closes the file if Finish did not; an unfinished in-progress file is
// left hidden for a restore to pick up.
func (w *partWriter[T]) Close() error {
	if w.file == nil {
		return nil
	}
	f := w.file
	w.file = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("file sink: close %s: %w", w.full(w.name), err)
	}
	return nil
}

// sinkFile is an in-progress part file and its length at a checkpoint.
type sinkFile struct {
	name   string
	length int64
}

// sinkState is a writer's checkpoint state: its own in-progress file, the
// checkpoint id (for messages), and the files it adopted from subtasks of
// another parallelism.
type sinkState struct {
	own        sinkFile
	checkpoint int64
	adopted    []sinkFile
}

// encodeSinkState writes the own file's name and length, the checkpoint id
// and, if there are any, the adopted files (their count, then name and
// length each). States written before the id or adopted files were added
// end earlier.
func encodeSinkState(st sinkState) []byte {
	b := appendSinkFile(nil, st.own)
	b = binary.AppendVarint(b, st.checkpoint)
	if len(st.adopted) > 0 {
		b = binary.AppendUvarint(b, uint64(len(st.adopted)))
		for _, f := range st.adopted {
			b = appendSinkFile(b, f)
		}
	}
	return b
}

func appendSinkFile(b []byte, f sinkFile) []byte {
	b = binary.AppendUvarint(b, uint64(len(f.name)))
	b = append(b, f.name...)
	return binary.AppendVarint(b, f.length)
}

// readSinkFile reads a sinkFile from the front of b and returns the rest.
func readSinkFile(b []byte) (sinkFile, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return sinkFile{}, nil, false
	}
	name := string(b[k : k+int(n)])
	rest := b[k+int(n):]
	length, k2 := binary.Varint(rest)
	if k2 <= 0 || length < 0 || name == "" || path.Base(name) != name {
		return sinkFile{}, nil, false
	}
	return sinkFile{name, length}, rest[k2:], true
}

func decodeSinkState(b []byte) (sinkState, error) {
	corrupt := fmt.Errorf("file sink: corrupt checkpoint state (%d bytes)", len(b))
	var st sinkState
	own, rest, ok := readSinkFile(b)
	if !ok {
		return st, corrupt
	}
	st.own = own
	if len(rest) == 0 {
		return st, nil
	}
	id, k := binary.Varint(rest)
	if k <= 0 || id < 0 {
		return st, corrupt
	}
	st.checkpoint, rest = id, rest[k:]
	if len(rest) == 0 {
		return st, nil
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)) {
		return st, corrupt
	}
	rest = rest[k:]
	for range n {
		var f sinkFile
		if f, rest, ok = readSinkFile(rest); !ok {
			return st, corrupt
		}
		st.adopted = append(st.adopted, f)
	}
	if len(rest) != 0 {
		return st, corrupt
	}
	return st, nil
}
