package checkpoint

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// SharedFile is a file of shared state that a task snapshot references, as
// a checkpoint's metadata lists it: an SST file of an incremental
// checkpoint, uploaded once and referenced by every later checkpoint that
// still holds it. Path is relative to the checkpoint storage root
// ("shared/..."), never to one checkpoint's directory, since the file
// outlives the checkpoint that uploaded it. The SharedRegistry counts
// references by Path alone; Size is for the metadata's accounting of what a
// checkpoint holds.
type SharedFile struct {
	Path string
	Size int64
}

// CheckpointFiles names the shared files one checkpoint references: what
// RebuildSharedRegistry reads from the metadata of each retained checkpoint.
type CheckpointFiles struct {
	ID    int64
	Files []string
}

// SharedRegistry counts, for each shared file, the checkpoints that hold it,
// and says when a file may be deleted from storage: when no registered
// checkpoint references it and no pinned checkpoint (one a savepoint in
// progress reads from) does. It lives on the job master beside the
// Coordinator, is pure like it (the caller deletes the files it returns)
// and, like it, is not safe for concurrent use.
//
// The caller registers a checkpoint's files when it completes (all of them,
// new and re-referenced), releases a checkpoint when retention discards it,
// and aborts a checkpoint that never completed, passing the files it
// uploaded. A registered file is returned for deletion once, when the last
// checkpoint holding it lets go; a file never registered is returned by
// every Abort that names it, since a repeated abort (a late upload) must
// delete it again and deleting is idempotent.
//
// It is sized for large jobs: 100,000 subtasks of ten files each, three
// checkpoints retained, is millions of references. Each path is stored
// once, and a checkpoint holds its files as a slice of 32-bit indices.
type SharedRegistry struct {
	// index interns paths: path to file index. A file is in it exactly
	// while some checkpoint holds it (refs > 0).
	index map[string]uint32
	// paths, refs and mark are indexed by file index; free lists the
	// indices of deleted files, reused by new ones.
	paths []string
	refs  []int32
	// mark is the epoch of the last Register that saw the file, so that a
	// file listed twice by one checkpoint is counted once without a set.
	mark  []uint32
	epoch uint32
	free  []uint32
	// checkpoints holds every checkpoint that holds files: registered, or
	// released while pinned.
	checkpoints map[int64]*sharedCheckpoint
}

// sharedCheckpoint is one checkpoint's hold on its files.
type sharedCheckpoint struct {
	files []uint32
	// pins counts the savepoints in progress that read from the
	// checkpoint; released is set when it was released while pinned, so
	// that the last Unpin lets go of its files.
	pins     int
	released bool
}

// NewSharedRegistry returns an empty registry: a job's first run. A job
// master that restarts rebuilds it with RebuildSharedRegistry.
func NewSharedRegistry() *SharedRegistry {
	return &SharedRegistry{index: map[string]uint32{}, checkpoints: map[int64]*sharedCheckpoint{}}
}

// RebuildSharedRegistry returns the registry of a job master (re)starting
// on storage that already holds completed checkpoints: retained lists each
// one's id and the shared files its metadata references. Files under
// shared/ that none of them references were uploaded by checkpoints that a
// crash interrupted; the caller may delete those (Referenced(path) == 0)
// before it triggers the first checkpoint, after which a pending
// checkpoint's uploads are unregistered too.
func RebuildSharedRegistry(retained []CheckpointFiles) (*SharedRegistry, error) {
	r := NewSharedRegistry()
	for _, c := range retained {
		if err := r.Register(c.ID, c.Files); err != nil {
			return nil, fmt.Errorf("rebuild shared state registry: %w", err)
		}
	}
	return r, nil
}

// Register records that completed checkpoint holds files: every shared file
// its metadata references, those it uploaded and those it re-references.
// A file listed twice counts once. Paths must be relative and clean
// (io/fs.ValidPath): a path that could name something outside the storage
// root is refused rather than deleted one day. On an error nothing is
// registered.
func (r *SharedRegistry) Register(checkpoint int64, files []string) error {
	if _, ok := r.checkpoints[checkpoint]; ok {
		return fmt.Errorf("shared files of checkpoint %d are already registered", checkpoint)
	}
	r.epoch++
	if r.epoch == 0 { // wrapped: old marks could match again
		clear(r.mark)
		r.epoch = 1
	}
	held := make([]uint32, 0, len(files))
	for _, f := range files {
		i, ok := r.index[f]
		if !ok {
			if !fs.ValidPath(f) || f == "." || strings.Contains(f, `\`) {
				r.drop(held, nil)
				return fmt.Errorf("checkpoint %d references shared file %q: want a clean path relative to the storage root, such as shared/<task>/<file>", checkpoint, f)
			}
			i = r.intern(f)
		}
		if r.mark[i] == r.epoch {
			continue
		}
		r.mark[i] = r.epoch
		r.refs[i]++
		held = append(held, i)
	}
	r.checkpoints[checkpoint] = &sharedCheckpoint{files: slices.Clip(held)}
	return nil
}

// intern adds path, held by nobody yet, and returns its index.
func (r *SharedRegistry) intern(path string) uint32 {
	// Clone: the caller's string may share memory with a large message
	// that would otherwise stay alive as long as the file.
	path = strings.Clone(path)
	var i uint32
	if n := len(r.free); n > 0 {
		i = r.free[n-1]
		r.free = r.free[:n-1]
		r.paths[i] = path
	} else {
		i = uint32(len(r.paths))
		r.paths = append(r.paths, path)
		r.refs = append(r.refs, 0)
		r.mark = append(r.mark, 0)
	}
	r.index[path] = i
	return i
}

// drop lets go of one reference to each of files, appending to deletable the
// paths of those no checkpoint holds any more, and forgets them.
func (r *SharedRegistry) drop(files []uint32, deletable []string) []string {
	for _, i := range files {
		if r.refs[i]--; r.refs[i] > 0 {
			continue
		}
		p := r.paths[i]
		deletable = append(deletable, p)
		delete(r.index, p)
		r.paths[i] = ""
		r.free = append(r.free, i)
	}
	return deletable
}

// Release lets go of checkpoint, which retention discarded, and returns the
// files no other checkpoint holds, to delete from storage. While the
// checkpoint is pinned its files stay, and the last Unpin returns them. A
// checkpoint not registered, or released already, releases nothing.
func (r *SharedRegistry) Release(checkpoint int64) (deletable []string) {
	c, ok := r.checkpoints[checkpoint]
	if !ok || c.released {
		return nil
	}
	if c.pins > 0 {
		c.released = true
		return nil
	}
	delete(r.checkpoints, checkpoint)
	return r.drop(c.files, nil)
}

// Abort is for a checkpoint that never completed: it returns the files among
// uploaded (those the checkpoint's tasks uploaded before it was aborted)
// that no checkpoint holds, to delete from storage. A file some completed
// checkpoint references stays, though the aborted one uploaded it too. Were
// the checkpoint registered after all, Abort releases it as Release does.
func (r *SharedRegistry) Abort(checkpoint int64, uploaded []string) (deletable []string) {
	deletable = r.Release(checkpoint)
	var seen map[string]bool
	if len(deletable) > 0 {
		seen = make(map[string]bool, len(deletable))
		for _, p := range deletable {
			seen[p] = true
		}
	}
	for _, f := range uploaded {
		if _, held := r.index[f]; held || seen[f] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[f] = true
		deletable = append(deletable, f)
	}
	return deletable
}

// Pin keeps checkpoint's files while a savepoint in progress reads them,
// even if retention releases the checkpoint meanwhile. Pins nest: each Pin
// needs its Unpin.
func (r *SharedRegistry) Pin(checkpoint int64) error {
	c, ok := r.checkpoints[checkpoint]
	if !ok {
		return fmt.Errorf("cannot pin the shared files of checkpoint %d: it is not registered", checkpoint)
	}
	c.pins++
	return nil
}

// Unpin ends one Pin of checkpoint. When the last pin of a checkpoint
// released meanwhile ends, it returns the files no other checkpoint holds,
// to delete from storage. Unpinning a checkpoint not pinned does nothing.
func (r *SharedRegistry) Unpin(checkpoint int64) (deletable []string) {
	c, ok := r.checkpoints[checkpoint]
	if !ok || c.pins == 0 {
		return nil
	}
	if c.pins--; c.pins > 0 || !c.released {
		return nil
	}
	delete(r.checkpoints, checkpoint)
	return r.drop(c.files, nil)
}

// Referenced returns how many checkpoints hold file: those registered, and
// those released while a pin still holds them. Zero means the file may be
// deleted, unless a pending checkpoint has just uploaded it.
func (r *SharedRegistry) Referenced(file string) int {
	i, ok := r.index[file]
	if !ok {
		return 0
	}
	return int(r.refs[i])
}

// Files returns how many distinct shared files some checkpoint holds.
func (r *SharedRegistry) Files() int { return len(r.index) }
