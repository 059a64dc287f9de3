package checkpoint

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
)

// downloadConcurrency is how many shared files a restore fetches at once:
// on HDFS each is a stream from some DataNode, and a few in parallel fill
// the network better than one.
const downloadConcurrency = 4

// Incremental reports whether the keyed state being restored was
// checkpointed incrementally (an LSM backend's files): restore it with
// OpenLSM or RestoreInto, Keyed has no entries.
func (r *Restore) Incremental() bool { return len(r.parts) > 0 }

// OpenLSM opens an LSM backend in dir (which must not exist or be empty;
// the backend's Close removes it) for the restoring subtask's key groups,
// holding the keyed state being restored, whichever way it was
// checkpointed. From entries (a full snapshot) it fills a new store. From
// incremental snapshots it downloads each overlapping old subtask's tables
// and private files into a directory next to dir, laid out as Pebble
// expects, and opens the store from them (state.OpenLSMFromCheckpoints):
// at the same key groups the old store's tables are linked in as they are,
// at others the key groups are cut and merged. Afterwards Reuse lets the
// new backend's checkpoints reference, not upload again, the tables it
// kept.
func (r *Restore) OpenLSM(dir string, maxParallelism int) (state.Backend, error) {
	if !r.Incremental() {
		b, err := state.NewLSM(dir, r.kgs, maxParallelism)
		if err != nil {
			return nil, err
		}
		if err := b.Restore(r.Keyed()); err != nil {
			b.Close()
			return nil, err
		}
		return b, nil
	}
	partsDir := filepath.Clean(dir) + ".parts"
	if err := os.RemoveAll(partsDir); err != nil { // a crashed restore's
		return nil, fmt.Errorf("restore %s/%d from checkpoint %d: %w", r.task, r.subtask, r.id, err)
	}
	defer os.RemoveAll(partsDir)
	parts, shared, err := r.download(partsDir)
	if err != nil {
		return nil, err
	}
	b, err := state.OpenLSMFromCheckpoints(dir, parts, r.kgs, maxParallelism)
	if err != nil {
		return nil, fmt.Errorf("restore %s/%d from checkpoint %d: %w", r.task, r.subtask, r.id, err)
	}
	if base := state.BaseRestorePart(parts, r.kgs); base >= 0 {
		r.reusable = shared[base]
	}
	return b, nil
}

// RestoreInto loads the keyed state being restored into b, a new backend of
// the restoring subtask's key groups (before any state is registered). An
// incremental checkpoint is opened as an LSM store in scratch (a local
// directory that must not exist; it is removed afterwards), whose entries
// then stream into b: this is how the heap backend restores a checkpoint
// the LSM backend took.
func (r *Restore) RestoreInto(b state.Backend, scratch string, maxParallelism int) error {
	if !r.Incremental() {
		return b.Restore(r.Keyed())
	}
	if scratch == "" {
		return fmt.Errorf("restore %s/%d from checkpoint %d: the incremental checkpoint needs a local directory to open its files in", r.task, r.subtask, r.id)
	}
	src, err := r.OpenLSM(scratch, maxParallelism)
	if err != nil {
		return err
	}
	defer src.Close()
	rd := newBackendReader(src)
	defer rd.close() // before src.Close: the snapshot must have stopped
	if err := b.Restore(rd); err != nil {
		return fmt.Errorf("from the lsm files of incremental checkpoint %d into the %s backend: %w", r.id, b.Name(), err)
	}
	return nil
}

// backendReader streams a backend's Snapshot as a SnapshotReader: the
// snapshot runs on a goroutine of its own, handing entries over in copied
// batches, so that memory stays bounded by a few batches.
type backendReader struct {
	batches chan []state.Entry
	stop    chan struct{}
	done    chan error
	cur     []state.Entry
	err     error
	ended   bool
}

const backendReaderBatch = 1024

func newBackendReader(b state.Backend) *backendReader {
	r := &backendReader{batches: make(chan []state.Entry, 2), stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		w := &batchWriter{r: r}
		err := b.Snapshot(w)
		if err == nil {
			err = w.send()
		}
		close(r.batches)
		r.done <- err
	}()
	return r
}

// Next implements state.SnapshotReader. The reader must be read to its
// end (or an error): the snapshot goroutine holds the backend until then.
func (r *backendReader) Next() (state.Entry, bool, error) {
	for len(r.cur) == 0 {
		if r.ended {
			return state.Entry{}, false, r.err
		}
		b, ok := <-r.batches
		if !ok {
			r.ended = true
			r.err = <-r.done
			continue
		}
		r.cur = b
	}
	e := r.cur[0]
	r.cur = r.cur[1:]
	return e, true, nil
}

// close stops the snapshot goroutine early and waits for it.
func (r *backendReader) close() {
	if r.ended {
		return
	}
	close(r.stop)
	for range r.batches {
	}
	r.err = <-r.done
	r.ended = true
}

// batchWriter is the state.SnapshotWriter of a backendReader's goroutine.
type batchWriter struct {
	r     *backendReader
	batch []state.Entry
}

var errReaderClosed = errors.New("snapshot reader closed")

func (w *batchWriter) WriteEntry(e state.Entry) error {
	w.batch = append(w.batch, state.Entry{KeyGroup: e.KeyGroup, State: e.State,
		Key: clone(e.Key), UserKey: clone(e.UserKey), Value: clone(e.Value)})
	if len(w.batch) < backendReaderBatch {
		return nil
	}
	return w.send()
}

func (w *batchWriter) send() error {
	if len(w.batch) == 0 {
		return nil
	}
	select {
	case w.r.batches <- w.batch:
		w.batch = nil
		return nil
	case <-w.r.stop:
		return errReaderClosed
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// download fetches every incremental part into partsDir/<subtask>: its
// private files out of its task file, its tables from the shared directory.
// It returns the parts and, for each, its shared files by local name.
func (r *Restore) download(partsDir string) ([]state.RestorePart, []map[string]SharedFile, error) {
	var parts []state.RestorePart
	var shared []map[string]SharedFile
	root := path.Dir(r.dir)
	type job struct {
		src, dst string
		f        SharedFile
		t        TaskSnapshot
	}
	var jobs []job
	for _, t := range r.parts {
		f, err := r.open(t)
		if err != nil {
			return nil, nil, err
		}
		dir := filepath.Join(partsDir, strconv.Itoa(t.Subtask))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("restore %s/%d: %w", r.task, r.subtask, err)
		}
		for _, pf := range f.files {
			if err := f.copyFile(pf, filepath.Join(dir, pf.name)); err != nil {
				return nil, nil, fmt.Errorf("restore %s/%d from checkpoint %d: %w", r.task, r.subtask, r.id, err)
			}
		}
		byName := make(map[string]SharedFile, len(t.Shared))
		for _, sf := range t.Shared {
			name, err := sharedLocalName(sf.Path)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: checkpoint %d of %s/%d: %v", ErrCorrupt, r.id, t.Task, t.Subtask, err)
			}
			if _, dup := byName[name]; dup {
				return nil, nil, fmt.Errorf("%w: checkpoint %d of %s/%d lists table %s twice", ErrCorrupt, r.id, t.Task, t.Subtask, name)
			}
			byName[name] = sf
			jobs = append(jobs, job{src: path.Join(root, sf.Path), dst: filepath.Join(dir, name), f: sf, t: t})
		}
		parts = append(parts, state.RestorePart{Dir: dir, KeyGroups: t.KeyGroups})
		shared = append(shared, byName)
	}
	// Fetch the tables a few at a time; the first error wins.
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan job)
	)
	for range min(downloadConcurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				err := r.fetch(j.src, j.dst, j.f.Size)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("restore %s/%d from checkpoint %d (table of %s/%d): %w", r.task, r.subtask, r.id, j.t.Task, j.t.Subtask, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return parts, shared, nil
}

// fetch copies the shared file src (in the restore's file system) to the
// local path dst and checks its size. When the checkpoint storage is the
// local disk, the file is hard-linked instead: it never changes, and
// neither does Pebble write to its tables.
func (r *Restore) fetch(src, dst string, size int64) error {
	shown := r.prefix + src
	if _, local := r.fs.(vfs.Local); local {
		if err := os.Link(filepath.FromSlash(src), dst); err == nil {
			return checkSize(dst, shown, size)
		} else if errors.Is(err, fs.ErrNotExist) {
			return missingShared(shown)
		}
		// Another file system, or no hard links: copy.
	}
	in, err := r.fs.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return missingShared(shown)
	}
	if err != nil {
		return fmt.Errorf("open shared file %s: %w", shown, err)
	}
	defer in.Close()
	if in.Size() != size {
		return fmt.Errorf("%w: shared file %s has %d bytes, but the checkpoint recorded %d (truncated or overwritten): restore from another checkpoint",
			ErrCorrupt, shown, in.Size(), size)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download shared file %s to %s: %w", shown, dst, err)
	}
	return checkSize(dst, shown, size)
}

func missingShared(p string) error {
	return fmt.Errorf("%w: shared file %s does not exist (deleted, or the checkpoint was copied without its storage's %s/ directory): restore from another checkpoint",
		ErrCorrupt, p, SharedDir)
}

func checkSize(local, shown string, size int64) error {
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%w: shared file %s has %d bytes, but the checkpoint recorded %d (truncated or overwritten): restore from another checkpoint",
			ErrCorrupt, shown, fi.Size(), size)
	}
	return nil
}

// copyFile writes private file f of the task file to the local path dst,
// verifying its checksum.
func (t *taskFile) copyFile(f namedRef, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	h := crc32.New(crcTable)
	_, err = io.Copy(io.MultiWriter(out, h), io.NewSectionReader(t.f, f.off, f.len))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read private file %s of task file %s at offset %d: %w", f.name, t.path, f.off, err)
	}
	if got := h.Sum32(); got != f.crc {
		return corruptf(t.path, "private file %s at offset %d: checksum %08x, want %08x", f.name, f.off, got, f.crc)
	}
	return nil
}
