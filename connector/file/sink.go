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
	return &partWriter[T]{sink: s, subtask: subtask}, nil
}

// partWriter writes one subtask's part file.
type partWriter[T any] struct {
	sink    *FileSink[T]
	subtask int
	ctx     *task.Context

	name    string // in-progress file name in the directory
	file    vfs.File
	buf     *bufio.Writer
	written int64 // bytes written to the file, buffered ones included
	line    []byte
	// entrySynced is set once the directory was synced with the in-progress
	// file in it: until then a crash may lose the file's name, synced bytes
	// and all.
	entrySynced bool
	done        bool // published by Finish
}

func (w *partWriter[T]) full(name string) string { return path.Join(w.sink.path, name) }

// Open starts a new in-progress file, or on restore cuts the saved one back to
// its length at the checkpoint and appends to it.
func (w *partWriter[T]) Open(ctx *task.Context) error {
	w.ctx = ctx
	fsys := w.sink.fsys
	if ctx == nil || ctx.Restored == nil {
		w.name = InProgressName(w.subtask)
		// A part file of this job from an attempt that restarted from
		// scratch is rewritten, so it must not stay published. The removal
		// becomes durable with the directory sync of the first checkpoint.
		if err := fsys.RemoveAll(w.full(PartName(w.subtask))); err != nil {
			return fmt.Errorf("file sink: remove stale %s: %w", w.full(PartName(w.subtask)), err)
		}
		f, err := fsys.Create(w.full(w.name))
		if err != nil {
			return fmt.Errorf("file sink: create %s: %w", w.full(w.name), err)
		}
		w.setFile(f, 0)
		return nil
	}
	name, length, id, err := decodeSinkState(ctx.Restored)
	if err != nil {
		return err
	}
	checkpoint := "the checkpoint"
	if id > 0 {
		checkpoint = fmt.Sprintf("checkpoint %d", id)
	}
	w.name = name
	inProgress := w.full(name)
	fi, err := fsys.Stat(inProgress)
	if errors.Is(err, iofs.ErrNotExist) {
		// The failed run may have published it already: take it back.
		final := w.full(finalName(name))
		if rerr := fsys.Rename(final, inProgress); rerr != nil {
			return fmt.Errorf("file sink: restore %s: neither it nor %s can be used: %w", inProgress, final, rerr)
		}
		fi, err = fsys.Stat(inProgress)
	}
	if err != nil {
		return fmt.Errorf("file sink: restore %s: %w", inProgress, err)
	}
	switch size := fi.Size(); {
	case size < length:
		// Bytes the checkpoint counts as written are gone: appending would
		// lose them silently, and truncating upward would publish zeros.
		return fmt.Errorf("file sink: restore %s: the file has %d bytes but %s recorded %d; "+
			"output the checkpoint counts as written is lost (was the file changed, or its sync lost?), so the job cannot resume exactly once",
			inProgress, size, checkpoint, length)
	case size > length:
		// Written after the checkpoint: those records are replayed.
		if err := fsys.Truncate(inProgress, length); err != nil {
			return fmt.Errorf("file sink: restore %s: cut it from %d bytes to the %d of %s: %w", inProgress, size, length, checkpoint, err)
		}
	}
	f, err := fsys.Append(inProgress)
	if err != nil {
		return fmt.Errorf("file sink: reopen %s: %w", inProgress, err)
	}
	w.setFile(f, length)
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
	return encodeSinkState(w.name, w.written, checkpointID), nil
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

// encodeSinkState is a writer's checkpoint state: the in-progress file's
// name, its length and the checkpoint id (for messages; states written
// before it was added end after the length).
func encodeSinkState(name string, length, checkpointID int64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(name)))
	b = append(b, name...)
	b = binary.AppendVarint(b, length)
	return binary.AppendVarint(b, checkpointID)
}

func decodeSinkState(b []byte) (name string, length, checkpointID int64, err error) {
	corrupt := fmt.Errorf("file sink: corrupt checkpoint state (%d bytes)", len(b))
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", 0, 0, corrupt
	}
	name = string(b[k : k+int(n)])
	rest := b[k+int(n):]
	length, k2 := binary.Varint(rest)
	if k2 <= 0 || length < 0 || name == "" || path.Base(name) != name {
		return "", 0, 0, corrupt
	}
	if rest = rest[k2:]; len(rest) > 0 {
		id, k3 := binary.Varint(rest)
		if k3 != len(rest) || id < 0 {
			return "", 0, 0, corrupt
		}
		checkpointID = id
	}
	return name, length, checkpointID, nil
}
