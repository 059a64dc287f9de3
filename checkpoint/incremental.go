package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
)

// Incremental checkpoints of the LSM backend work as Flink's RocksDB
// backend's do. At the barrier the task has the backend checkpoint its
// store into a local directory (state.Incremental: a flush and hard links,
// the short synchronous phase); then, off the task goroutine, it uploads the
// tables that no completed checkpoint of this backend uploaded yet and
// writes the small private files into its task file. A checkpoint of S
// subtasks thus creates S task files, one _metadata and only the new tables:
//
//	<root>/chk-<id>/<task>-<subtask>.state     operator state + private files (task file version 2)
//	<root>/chk-<id>/_metadata                  lists every table each subtask references
//	<root>/shared/<task>-<subtask>/<backend>-<id>-<table>
//
// where <backend> is random per backend instance (two backends, say of two
// runs, never write the same name) and <id> the uploading checkpoint (a
// backend that uploads a table again, because the checkpoint that uploaded
// it first is not known to be complete, writes a new name). Tables outlive
// the checkpoint that uploaded them: the Driver counts references with a
// SharedRegistry and deletes a table when no retained checkpoint lists it.
//
// A backend reuses an upload only once the checkpoint that made it is
// complete, which it learns from the commit point itself: that checkpoint's
// _metadata exists. An upload of a checkpoint that may still be aborted is
// never referenced by a later one, so an abort may delete every upload no
// completed checkpoint holds.

// SharedDir is the directory under a storage root that holds the shared
// files of incremental checkpoints.
const SharedDir = "shared"

// maxPendingUploads bounds how many checkpoints' uploads a backend keeps
// while it does not know whether they completed; forgetting one only costs
// uploading its tables again.
const maxPendingUploads = 16

// checkSharedPath accepts the paths this layout makes, shared/<dir>/<file>,
// and refuses anything that could name a file elsewhere.
func checkSharedPath(p string) error {
	if !fs.ValidPath(p) || strings.Contains(p, `\`) || !strings.HasPrefix(p, SharedDir+"/") || strings.Count(p, "/") != 2 {
		return fmt.Errorf("shared file %q: want a clean path relative to the storage root, %s/<subtask>/<file>", p, SharedDir)
	}
	return nil
}

// sharedLocalName is the name a shared file has in its backend's store:
// what follows "<backend>-<id>-" in its base name.
func sharedLocalName(p string) (string, error) {
	parts := strings.SplitN(path.Base(p), "-", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || parts[2] == "." || parts[2] == ".." ||
		strings.ContainsAny(parts[2], `/\`) {
		return "", fmt.Errorf("shared file %s is not named <backend>-<checkpoint>-<table>", p)
	}
	return parts[2], nil
}

// sharedPaths lists the paths of the shared files tasks reference.
func sharedPaths(tasks []TaskSnapshot) []string {
	var out []string
	for _, t := range tasks {
		for _, f := range t.Shared {
			out = append(out, f.Path)
		}
	}
	return out
}

// checkSharedFiles makes sure every shared file md lists is under root with
// the size the metadata recorded. It lists each subtask's shared directory
// once rather than asking for each file, since on HDFS every question is a
// call to the NameNode.
func checkSharedFiles(fsys vfs.FS, root, prefix string, md *Metadata) error {
	type ref struct {
		f    SharedFile
		task TaskSnapshot
	}
	byDir := map[string][]ref{}
	for _, t := range md.Tasks {
		for _, f := range t.Shared {
			d := path.Dir(f.Path)
			byDir[d] = append(byDir[d], ref{f, t})
		}
	}
	dirs := slices.Sorted(func(yield func(string) bool) {
		for d := range byDir {
			if !yield(d) {
				return
			}
		}
	})
	for _, d := range dirs {
		infos, err := fsys.ReadDir(path.Join(root, d))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check checkpoint %d shared files in %s: %w", md.ID, prefix+path.Join(root, d), err)
		}
		sizes := make(map[string]int64, len(infos))
		for _, fi := range infos {
			if !fi.IsDir() {
				sizes[fi.Name()] = fi.Size()
			}
		}
		for _, r := range byDir[d] {
			p := prefix + path.Join(root, r.f.Path)
			size, ok := sizes[path.Base(r.f.Path)]
			if !ok {
				return fmt.Errorf("%w: checkpoint %d of %s/%d references shared file %s, which does not exist (deleted, or the checkpoint directory was copied without the storage's %s/ directory)",
					ErrCorrupt, md.ID, r.task.Task, r.task.Subtask, p, SharedDir)
			}
			if size != r.f.Size {
				return fmt.Errorf("%w: checkpoint %d shared file %s has %d bytes, but the metadata recorded %d (truncated or overwritten)",
					ErrCorrupt, md.ID, p, size, r.f.Size)
			}
		}
	}
	return nil
}

// removeShared deletes shared files (paths relative to the root); a file
// already gone is no error. It does not sync: a file that a crash brings
// back is unreferenced, and the next Driver's sweep deletes it.
func (s *Storage) removeShared(files []string) error {
	var errs []error
	for _, p := range files {
		if err := checkSharedPath(p); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.fs.Remove(path.Join(s.root, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete shared file %s: %w", s.prefix+path.Join(s.root, p), err))
		}
	}
	return errors.Join(errs...)
}

// sweepShared deletes every file under shared/ that keep refuses, and the
// directories it leaves empty: the uploads of checkpoints that never
// completed before a crash, and tables whose deletion a crash interrupted.
// It returns an error only when it cannot list the directory; a file it
// cannot delete stays for the next sweep.
func (s *Storage) sweepShared(keep func(string) bool) error {
	top := path.Join(s.root, SharedDir)
	infos, err := s.fs.ReadDir(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list shared checkpoint files in %s: %w", s.prefix+top, err)
	}
	for _, fi := range infos {
		rel := SharedDir + "/" + fi.Name()
		if !fi.IsDir() {
			if !keep(rel) {
				s.fs.Remove(path.Join(s.root, rel))
			}
			continue
		}
		files, err := s.fs.ReadDir(path.Join(s.root, rel))
		if err != nil {
			return fmt.Errorf("list shared checkpoint files in %s: %w", s.prefix+path.Join(s.root, rel), err)
		}
		left := 0
		for _, f := range files {
			p := rel + "/" + f.Name()
			if f.IsDir() || keep(p) || s.fs.Remove(path.Join(s.root, p)) != nil {
				left++
			}
		}
		if left == 0 {
			s.fs.Remove(path.Join(s.root, rel))
		}
	}
	return nil
}

// upload copies the local file src to the shared file rel, synced. The name
// is new (unique per backend and checkpoint), so no temporary name is
// needed: a partial file left by a crash is referenced by no metadata. The
// caller syncs the directory once for all of a snapshot's uploads.
func (s *Storage) upload(ctx context.Context, src, rel string) (err error) {
	dst := path.Join(s.root, rel)
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", src, err)
	}
	defer in.Close()
	out, err := s.fs.Create(dst)
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, s.prefix+dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("upload %s to %s: %w", src, s.prefix+dst, cerr)
		}
		if err != nil {
			s.fs.Remove(dst)
		}
	}()
	if _, err := copyContext(ctx, out, in); err != nil {
		return fmt.Errorf("upload %s to %s: %w", src, s.prefix+dst, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("upload %s to %s: sync: %w", src, s.prefix+dst, err)
	}
	return nil
}

// copyContext is io.Copy that stops between buffers once ctx is done, so
// that a cancelled job does not finish uploading gigabytes.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := src.Read(buf)
		if k > 0 {
			w, werr := dst.Write(buf[:k])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
			if w < k {
				return n, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// Incremental takes the incremental checkpoints of one subtask's backend
// into a storage. It remembers which of the backend's tables are uploaded
// already, and by which checkpoint, so that each checkpoint uploads only
// the new ones. It belongs to the backend it was made for (a table's name
// means the same bytes only within one backend) and takes one snapshot at a
// time: Begin is called after the previous IncrementalWriter's Finish or
// Abort returned.
type Incremental struct {
	storage     *Storage
	task        string
	subtask     int
	parallelism int
	kgs         state.KeyGroupRange
	// local is the backend's directory; a checkpoint's local files go
	// next to it (local.chk-<id>), on the same file system, so that the
	// backend can hard-link them.
	local string
	// dir is shared/<task>-<subtask>, relative to the storage root;
	// backend tells this backend's uploads from every other's.
	dir     string
	backend string
	madeDir bool
	// confirmed maps a table of the backend to its upload, made by a
	// checkpoint known to be complete (or the restored one): safe to
	// reference.
	confirmed map[string]SharedFile
	// pending are the uploads of checkpoints not known to be complete yet,
	// oldest first.
	pending []pendingUploads
}

// pendingUploads are the tables one checkpoint uploaded.
type pendingUploads struct {
	id    int64
	files map[string]SharedFile
}

// NewIncremental returns the lineage of incremental checkpoints of subtask
// of task (running at parallelism, owning kgs) whose backend keeps its files
// in the local directory local, into storage.
func NewIncremental(storage *Storage, task string, subtask, parallelism int, kgs state.KeyGroupRange, local string) *Incremental {
	var b [8]byte
	rand.Read(b[:])
	return &Incremental{
		storage: storage, task: task, subtask: subtask, parallelism: parallelism, kgs: kgs, local: local,
		dir:       SharedDir + "/" + strings.TrimSuffix(taskFileName(task, subtask), ".state"),
		backend:   hex.EncodeToString(b[:]),
		confirmed: map[string]SharedFile{},
	}
}

// Reuse has the lineage reference, rather than upload again, the tables the
// backend kept from the checkpoint it was restored from (r, after
// OpenLSM): they are in the storage already, held by that checkpoint,
// which stays retained until a newer one that references them too
// completes. Only a restore from this lineage's own storage qualifies;
// tables restored from elsewhere are uploaded again.
func (inc *Incremental) Reuse(r *Restore) {
	if !sameFS(r.fs, inc.storage.fs) || path.Dir(r.dir) != inc.storage.root {
		return
	}
	for name, f := range r.reusable {
		inc.confirmed[name] = f
	}
}

// sameFS reports whether a and b are the same file system. vfs.Resolve
// hands out one FS per URI authority, so equal roots on equal file systems
// are the same directory.
func sameFS(a, b vfs.FS) bool {
	defer func() { recover() }() // an FS of an incomparable type is never the same
	return a == b
}

// Begin starts the snapshot of checkpoint id: a task file that takes the
// operator state and, through WriteKeyedState, the backend's files.
func (inc *Incremental) Begin(id int64) (*IncrementalWriter, error) {
	w, err := newTaskWriter(inc.storage.fs, inc.storage.dir(id), id, inc.task, inc.subtask, inc.parallelism, inc.kgs, fileVersionFiles)
	if err != nil {
		return nil, err
	}
	return &IncrementalWriter{inc: inc, id: id, w: w}, nil
}

// IncrementalWriter is one subtask's incremental snapshot in progress. The
// task writes operator state and calls WriteKeyedState on its goroutine (the
// synchronous phase); Finish, which may run on another goroutine
// afterwards, uploads and completes the task file.
type IncrementalWriter struct {
	inc   *Incremental
	id    int64
	w     *TaskWriter
	files *state.IncrementalSnapshot
}

// WriteOperatorState stores operator uid's state in the task file.
func (w *IncrementalWriter) WriteOperatorState(uid string, data []byte) error {
	return w.w.WriteOperatorState(uid, data)
}

// WriteEntry refuses: keyed state comes as the backend's files
// (WriteKeyedState).
func (w *IncrementalWriter) WriteEntry(e state.Entry) error { return w.w.WriteEntry(e) }

// WriteKeyedState checkpoints b's store into a local directory next to the
// backend's: every table linked, nothing copied. It blocks the task for a
// flush of what was written since the last one; the uploads wait for
// Finish.
func (w *IncrementalWriter) WriteKeyedState(b state.Backend) error {
	ib, ok := b.(state.Incremental)
	if !ok {
		return fmt.Errorf("checkpoint %d task %s/%d: the %s state backend cannot checkpoint incrementally", w.id, w.inc.task, w.inc.subtask, b.Name())
	}
	if w.files != nil {
		return fmt.Errorf("checkpoint %d task %s/%d: keyed state written twice", w.id, w.inc.task, w.inc.subtask)
	}
	s, err := ib.CheckpointFiles(w.inc.local + ".chk-" + strconv.FormatInt(w.id, 10))
	if err != nil {
		return fmt.Errorf("checkpoint %d task %s/%d: %w", w.id, w.inc.task, w.inc.subtask, err)
	}
	w.files = &s
	return nil
}

// Abort drops the snapshot: its task file and local files.
func (w *IncrementalWriter) Abort() {
	w.w.Abort()
	if w.files != nil {
		os.RemoveAll(w.files.Dir)
	}
}

// Finish uploads the tables no completed checkpoint of the lineage holds,
// writes the private files into the task file and closes it, returning what
// the task acknowledges. The local files are removed either way; on error,
// so are this snapshot's uploads and task file. ctx cancels the uploads.
func (w *IncrementalWriter) Finish(ctx context.Context) (snap TaskSnapshot, err error) {
	inc := w.inc
	if w.files == nil {
		w.Abort()
		return TaskSnapshot{}, fmt.Errorf("checkpoint %d task %s/%d: the incremental snapshot has no keyed state", w.id, inc.task, inc.subtask)
	}
	files := *w.files
	defer os.RemoveAll(files.Dir)
	var uploaded []string
	defer func() {
		if err != nil {
			w.w.Abort()
			inc.storage.removeShared(uploaded)
		}
	}()
	inc.learnCompletions()
	fresh := map[string]SharedFile{}
	for _, f := range files.Shared {
		if up, ok := inc.confirmed[f.Name]; ok && up.Size == f.Size {
			if err := w.w.Reference(up, false); err != nil {
				return TaskSnapshot{}, err
			}
			continue
		}
		if !inc.madeDir {
			if err := inc.storage.fs.MkdirAll(path.Join(inc.storage.root, inc.dir)); err != nil {
				return TaskSnapshot{}, fmt.Errorf("checkpoint %d task %s/%d: create shared directory: %w", w.id, inc.task, inc.subtask, err)
			}
			inc.madeDir = true
		}
		up := SharedFile{Path: inc.dir + "/" + inc.backend + "-" + strconv.FormatInt(w.id, 10) + "-" + f.Name, Size: f.Size}
		if err := inc.storage.upload(ctx, f.Path, up.Path); err != nil {
			return TaskSnapshot{}, fmt.Errorf("checkpoint %d task %s/%d: %w", w.id, inc.task, inc.subtask, err)
		}
		uploaded = append(uploaded, up.Path)
		fresh[f.Name] = up
		if err := w.w.Reference(up, true); err != nil {
			return TaskSnapshot{}, err
		}
	}
	if len(uploaded) > 0 {
		// The uploads' names must be durable before the metadata that
		// lists them is.
		if err := inc.storage.fs.SyncDir(path.Join(inc.storage.root, inc.dir)); err != nil {
			return TaskSnapshot{}, fmt.Errorf("checkpoint %d task %s/%d: sync shared directory: %w", w.id, inc.task, inc.subtask, err)
		}
	}
	for _, f := range files.Private {
		if err := writeLocalFile(w.w, f); err != nil {
			return TaskSnapshot{}, fmt.Errorf("checkpoint %d task %s/%d: %w", w.id, inc.task, inc.subtask, err)
		}
	}
	if snap, err = w.w.Close(); err != nil {
		return TaskSnapshot{}, err
	}
	// A table the store no longer lists was compacted away and never
	// comes back (Pebble does not reuse file numbers).
	live := make(map[string]bool, len(files.Shared))
	for _, f := range files.Shared {
		live[f.Name] = true
	}
	for name := range inc.confirmed {
		if !live[name] {
			delete(inc.confirmed, name)
		}
	}
	inc.pending = append(inc.pending, pendingUploads{id: w.id, files: fresh})
	if len(inc.pending) > maxPendingUploads {
		inc.pending = inc.pending[len(inc.pending)-maxPendingUploads:]
	}
	return snap, nil
}

// writeLocalFile copies a private file of a local checkpoint into the task
// file.
func writeLocalFile(w *TaskWriter, f state.LocalSST) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("read private file: %w", err)
	}
	defer in.Close()
	return w.WriteFile(f.Name, in)
}

// learnCompletions promotes the uploads of the latest checkpoint known to
// be complete — its _metadata exists — and forgets those of older pending
// ones: each either completed before it (its uploads are then held by it,
// not needed) or was aborted. A checkpoint whose state is unknown (an error
// asking) stays pending; its tables are uploaded again meanwhile.
func (inc *Incremental) learnCompletions() {
	for i := len(inc.pending) - 1; i >= 0; i-- {
		p := inc.pending[i]
		done, err := exists(inc.storage.fs, path.Join(inc.storage.dir(p.id), MetadataFile))
		if err != nil || !done {
			continue
		}
		for name, f := range p.files {
			inc.confirmed[name] = f
		}
		inc.pending = slices.Delete(inc.pending, 0, i+1)
		return
	}
}
