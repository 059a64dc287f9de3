package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
)

// Restore reads back the state of one subtask from a checkpoint. Operator
// state comes from the file the same subtask wrote; keyed state comes from
// the files of every subtask of the task whose key groups overlap the
// restoring subtask's, so a job may restart at another parallelism. A Restore
// is used from one goroutine; Close releases its files.
//
// Keyed state checkpointed incrementally (the LSM backend's files) is not
// read as entries: OpenLSM opens an LSM backend from it, RestoreInto feeds
// it to any backend (incremental_restore.go).
type Restore struct {
	fs      vfs.FS
	dir     string
	prefix  string // of the URI dir was given as, for messages
	id      int64
	task    string
	subtask int
	kgs     state.KeyGroupRange
	all     []TaskSnapshot // every subtask file of the task, in subtask order
	files   []*taskFile
	ops     map[string][]byte
	chunks  []restoreChunk
	// parts are the incremental snapshots whose key groups meet kgs.
	parts []TaskSnapshot
	// reusable are the shared files of the base part that OpenLSM's
	// backend kept, by their name in its store (Incremental.Reuse).
	reusable map[string]SharedFile
}

// restoreChunk is one chunk to read, in key-group order across files.
type restoreChunk struct {
	file *taskFile
	chunkRef
}

// OpenRestore opens the state of subtask of task, owning key groups kgs, in
// the checkpoint dir described by md (both as returned by Load: dir may be a
// local path or a URI).
func OpenRestore(dir string, md *Metadata, task string, subtask int, kgs state.KeyGroupRange) (*Restore, error) {
	fsys, inner, prefix, err := resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("restore %s/%d from checkpoint %d: %w", task, subtask, md.ID, err)
	}
	r, err := OpenRestoreFS(fsys, inner, md, task, subtask, kgs)
	if r != nil {
		r.prefix = prefix
	}
	return r, err
}

// OpenRestoreFS is OpenRestore on a given file system, dir being a path
// inside it (as returned by LoadFS). It reads and verifies the indexes of
// the files it needs and the subtask's operator state; keyed entries are read
// on demand by Keyed.
func OpenRestoreFS(fsys vfs.FS, dir string, md *Metadata, task string, subtask int, kgs state.KeyGroupRange) (*Restore, error) {
	r := &Restore{fs: fsys, dir: dir, id: md.ID, task: task, subtask: subtask, kgs: kgs, ops: make(map[string][]byte)}
	var keyed []TaskSnapshot // files of the task with keyed state
	var own *TaskSnapshot
	for i := range md.Tasks {
		t := &md.Tasks[i]
		if t.Task != task {
			continue
		}
		if t.Subtask == subtask {
			own = t
		}
		r.all = append(r.all, *t)
		if t.KeyGroups.Len() > 0 {
			keyed = append(keyed, *t)
		}
	}
	if err := checkCoverage(md.ID, task, keyed, kgs); err != nil {
		return nil, err
	}
	slices.SortFunc(r.all, func(a, b TaskSnapshot) int { return a.Subtask - b.Subtask })
	open := r.open
	if own != nil {
		f, err := open(*own)
		if err != nil {
			r.Close()
			return nil, err
		}
		for uid, ref := range f.ops {
			b, err := f.readBlock(fmt.Sprintf("operator state %q", uid), ref)
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("restore %s/%d: %w", task, subtask, err)
			}
			r.ops[uid] = b
		}
	}
	var full []TaskSnapshot
	for _, t := range keyed {
		if t.KeyGroups.End <= kgs.Start || t.KeyGroups.Start >= kgs.End {
			continue
		}
		if t.Incremental {
			r.parts = append(r.parts, t)
		} else {
			full = append(full, t)
		}
		f, err := open(t)
		if err != nil {
			r.Close()
			return nil, err
		}
		for _, c := range f.chunks {
			if kgs.Contains(c.keyGroup) {
				r.chunks = append(r.chunks, restoreChunk{f, c})
			}
		}
	}
	if len(r.parts) > 0 && len(full) > 0 {
		r.Close()
		return nil, fmt.Errorf("checkpoint %d task %s: subtask %d holds a full snapshot and subtask %d an incremental one of the key groups %v being restored; "+
			"a restore takes one kind: restore from another checkpoint", md.ID, task, full[0].Subtask, r.parts[0].Subtask, kgs)
	}
	// Files own disjoint ranges, so a stable sort by key group keeps each
	// file's chunks of a key group in their written order.
	slices.SortStableFunc(r.chunks, func(a, b restoreChunk) int { return a.keyGroup - b.keyGroup })
	return r, nil
}

// open returns the opened file of t, opening and checking it on first use.
func (r *Restore) open(t TaskSnapshot) (*taskFile, error) {
	for _, f := range r.files {
		if f.subtask == t.Subtask {
			return f, nil
		}
	}
	f, err := openTaskFile(r.fs, path.Join(r.dir, t.File))
	if err != nil {
		return nil, fmt.Errorf("restore %s/%d from checkpoint %d: %w", r.task, r.subtask, r.id, err)
	}
	r.files = append(r.files, f)
	if f.task != t.Task || f.subtask != t.Subtask || f.kgs != t.KeyGroups || f.id != r.id || f.f.Size() != t.TaskFileSize() {
		return nil, fmt.Errorf("restore %s/%d: %w", r.task, r.subtask, corruptf(f.path,
			"holds %s/%d key groups %v of checkpoint %d (%d bytes) but the metadata says %s/%d key groups %v of checkpoint %d (%d bytes)",
			f.task, f.subtask, f.kgs, f.id, f.f.Size(), t.Task, t.Subtask, t.KeyGroups, r.id, t.TaskFileSize()))
	}
	if t.Incremental != (f.version == fileVersionFiles) {
		return nil, fmt.Errorf("restore %s/%d: %w", r.task, r.subtask, corruptf(f.path,
			"has format version %d, but the metadata says the snapshot is incremental=%v", f.version, t.Incremental))
	}
	return f, nil
}

// checkCoverage makes sure the keyed files of a task own disjoint key groups
// and, when the task has keyed state, that they cover every key group being
// restored: otherwise state would be restored twice or silently lost.
func checkCoverage(id int64, task string, keyed []TaskSnapshot, kgs state.KeyGroupRange) error {
	if len(keyed) == 0 || kgs.Len() == 0 {
		return nil
	}
	sorted := slices.Clone(keyed)
	slices.SortFunc(sorted, func(a, b TaskSnapshot) int { return a.KeyGroups.Start - b.KeyGroups.Start })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].KeyGroups.Start < sorted[i-1].KeyGroups.End {
			return fmt.Errorf("%w: checkpoint %d task %s: subtasks %d %v and %d %v own overlapping key groups",
				ErrCorrupt, id, task, sorted[i-1].Subtask, sorted[i-1].KeyGroups, sorted[i].Subtask, sorted[i].KeyGroups)
		}
	}
	next := kgs.Start
	for _, t := range sorted {
		if t.KeyGroups.Start > next {
			break
		}
		next = max(next, t.KeyGroups.End)
	}
	if next < kgs.End {
		var have []string
		for _, t := range sorted {
			have = append(have, t.KeyGroups.String())
		}
		return fmt.Errorf("checkpoint %d task %s has no state for key group %d of the range %v being restored (the checkpoint covers %v); "+
			"was the job's max parallelism changed? It must stay the same across restores", id, task, next, kgs, have)
	}
	return nil
}

// OperatorState is the state operator uid saved in this subtask's file, nil
// if there is none (a new operator, or a subtask index the checkpoint did not
// have).
func (r *Restore) OperatorState(uid string) []byte { return r.ops[uid] }

// Parallelism is the parallelism the task ran at when the checkpoint was
// taken (0 when the checkpoint has no file of the task: a new operator).
func (r *Restore) Parallelism() int {
	if len(r.all) == 0 {
		return 0
	}
	return r.all[0].Parallelism
}

// OperatorStates returns the state operator uid saved in every subtask's
// file of the task, indexed by the subtask that wrote it (nil where a subtask
// saved none). An operator restored at another parallelism uses it to
// redistribute what OperatorState alone would lose, such as the positions of
// a source's splits. It reads the other subtasks' files on demand.
func (r *Restore) OperatorStates(uid string) ([][]byte, error) {
	if len(r.all) == 0 {
		return nil, nil
	}
	out := make([][]byte, max(r.all[len(r.all)-1].Subtask+1, r.Parallelism()))
	for _, t := range r.all {
		f, err := r.open(t)
		if err != nil {
			return nil, err
		}
		ref, ok := f.ops[uid]
		if !ok {
			continue
		}
		if t.Subtask == r.subtask {
			out[t.Subtask] = r.ops[uid]
			continue
		}
		b, err := f.readBlock(fmt.Sprintf("operator state %q", uid), ref)
		if err != nil {
			return nil, fmt.Errorf("restore %s/%d: %w", r.task, r.subtask, err)
		}
		out[t.Subtask] = b
	}
	return out, nil
}

// Keyed returns a reader of the keyed entries in the restoring subtask's key
// groups, ordered by key group. Each call starts a new pass. Entry slices
// stay valid after later calls to Next. Keyed state checkpointed
// incrementally has no entries to read: the reader fails, saying to use
// OpenLSM or RestoreInto.
func (r *Restore) Keyed() state.SnapshotReader {
	if len(r.parts) > 0 {
		return failedReader{fmt.Errorf("checkpoint %d holds the keyed state of %s as incremental lsm files, not entries: restore it with OpenLSM or RestoreInto", r.id, r.task)}
	}
	return &keyedReader{chunks: r.chunks}
}

// failedReader is a SnapshotReader that fails.
type failedReader struct{ err error }

func (f failedReader) Next() (state.Entry, bool, error) { return state.Entry{}, false, f.err }

// Close releases the files.
func (r *Restore) Close() error {
	var errs []error
	for _, f := range r.files {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", f.path, err))
		}
	}
	r.files = nil
	return errors.Join(errs...)
}

// keyedReader walks the chunks of a Restore, reading one block at a time.
type keyedReader struct {
	chunks []restoreChunk
	next   int // index of the next chunk to load
	cur    *restoreChunk
	block  []byte
	left   int // entries left in block
	err    error
}

// Next implements state.SnapshotReader.
func (k *keyedReader) Next() (state.Entry, bool, error) {
	if k.err != nil {
		return state.Entry{}, false, k.err
	}
	for k.left == 0 {
		if k.cur != nil && len(k.block) != 0 {
			return k.fail("%d bytes after the last entry", len(k.block))
		}
		if k.next == len(k.chunks) {
			return state.Entry{}, false, nil
		}
		k.cur = &k.chunks[k.next]
		k.next++
		b, err := k.cur.file.readBlock(fmt.Sprintf("key group %d", k.cur.keyGroup), k.cur.blockRef)
		if err != nil {
			k.err = err
			return state.Entry{}, false, err
		}
		k.block, k.left = b, k.cur.entries
	}
	sid, n := binary.Uvarint(k.block)
	if n <= 0 || sid >= uint64(len(k.cur.file.states)) {
		return k.fail("bad state id")
	}
	k.block = k.block[n:]
	key, ok1 := k.bytes()
	userKey, ok2 := k.bytes()
	value, ok3 := k.bytes()
	if !ok1 || !ok2 || !ok3 {
		return k.fail("entry truncated")
	}
	k.left--
	return state.Entry{KeyGroup: k.cur.keyGroup, State: k.cur.file.states[sid], Key: key, UserKey: userKey, Value: value}, true, nil
}

func (k *keyedReader) bytes() ([]byte, bool) {
	l, n := binary.Uvarint(k.block)
	if n <= 0 || l > uint64(len(k.block)-n) {
		return nil, false
	}
	p := k.block[n : n+int(l) : n+int(l)]
	k.block = k.block[n+int(l):]
	return p, true
}

func (k *keyedReader) fail(format string, args ...any) (state.Entry, bool, error) {
	entry := k.cur.entries - k.left
	k.err = corruptf(k.cur.file.path, "key group %d chunk at offset %d, entry %d: %s",
		k.cur.keyGroup, k.cur.off, entry, fmt.Sprintf(format, args...))
	return state.Entry{}, false, k.err
}
