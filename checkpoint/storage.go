package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
)

// MetadataVersion is the version of the _metadata format this loom writes
// and reads.
const MetadataVersion = 1

// MetadataFile is the name of the file that completes a checkpoint directory.
const MetadataFile = "_metadata"

// ErrNoCheckpoint is returned by Load when a path holds no complete checkpoint.
var ErrNoCheckpoint = errors.New("no complete checkpoint")

// TaskSnapshot describes one subtask's file in a checkpoint: what a task
// acknowledges to the coordinator and what the metadata lists.
//
// A full snapshot is its task file alone. An incremental snapshot
// (Incremental, incremental.go) is its task file — operator state and the
// backend's small private files — plus the backend's tables, shared files
// under the storage root's shared/ directory that this checkpoint uploaded
// or an earlier one did; Shared lists them all.
type TaskSnapshot struct {
	Task        string              `json:"task"`
	Subtask     int                 `json:"subtask"`
	Parallelism int                 `json:"parallelism"`
	KeyGroups   state.KeyGroupRange `json:"keyGroups"`
	File        string              `json:"file"` // relative to the checkpoint directory
	// Size is the bytes this checkpoint wrote for the subtask: its task
	// file and the shared files it uploaded (not those it re-references).
	Size int64 `json:"size"`
	// FileSize is the task file's length; zero means Size (a full
	// snapshot, and every snapshot of a loom before incremental ones).
	FileSize int64 `json:"fileSize,omitempty"`
	// StateSize is every byte a restore reads: the task file and all
	// shared files listed. Zero means Size.
	StateSize int64 `json:"stateSize,omitempty"`
	// Incremental marks a snapshot whose keyed state is the backend's
	// files (an LSM store's checkpoint), not entries in the task file.
	Incremental bool `json:"incremental,omitempty"`
	// Shared are the shared files the snapshot references, paths relative
	// to the storage root (shared/...).
	Shared []SharedFile `json:"shared,omitempty"`
}

// TaskFileSize is the length of the snapshot's task file.
func (t TaskSnapshot) TaskFileSize() int64 {
	if t.FileSize > 0 {
		return t.FileSize
	}
	return t.Size
}

// TotalSize is the bytes a restore of the snapshot reads (StateSize).
func (t TaskSnapshot) TotalSize() int64 {
	if t.StateSize > 0 {
		return t.StateSize
	}
	return t.Size
}

// Metadata describes a complete checkpoint. GraphHash identifies the job
// graph that wrote it (graph.StateHash: parallelism may change); the caller
// compares it with the graph being restored.
type Metadata struct {
	// Skipped, set by Load when it was given a directory of checkpoints,
	// says which later checkpoints it refused (damaged) to get to this one.
	Skipped []string `json:"-"`

	Version   int            `json:"version"`
	Job       string         `json:"job"`
	GraphHash string         `json:"graphHash"`
	ID        int64          `json:"id"`
	Timestamp time.Time      `json:"timestamp"`
	Tasks     []TaskSnapshot `json:"tasks"`
	// Finished are the subtasks that had reached the end of their input
	// (all they emitted is in the state of the tasks downstream): a
	// restore restarts them finished.
	Finished []TaskID `json:"finished,omitempty"`
}

// Storage keeps checkpoints under a root directory: <root>/chk-<id>/ holds
// the task files of checkpoint id and, once complete, its _metadata. Its
// methods may be called from several goroutines (each TaskWriter from one).
//
// A checkpoint is committed by WriteMetadata: every task file is synced and
// renamed into place by its TaskWriter, then the directory is synced, then
// _metadata is written under a temporary name, synced, renamed into place and
// the directory synced again. A crash at any point leaves either the previous
// complete checkpoint or the new one, never a _metadata naming files that are
// not durable.
type Storage struct {
	fs     vfs.FS
	root   string // inside fs
	prefix string // vfs.Prefix of the URI the storage was opened with
}

// NewStorage returns storage on fsys under root (slash-separated, a path
// inside fsys). Tests pass a strict in-memory file system.
func NewStorage(fsys vfs.FS, root string) *Storage {
	return &Storage{fs: fsys, root: path.Clean(root)}
}

// NewLocalStorage returns storage in the local directory root.
func NewLocalStorage(root string) *Storage { return NewStorage(vfs.Default, filepath.ToSlash(root)) }

// OpenStorage returns storage under uri: a local path, a file:// URI, or a
// URI of a registered scheme such as hdfs://nn:8020/checkpoints/job (the
// hdfs package registers it), so that checkpoints survive the loss of a
// machine.
func OpenStorage(uri string) (*Storage, error) {
	fsys, root, prefix, err := resolve(uri)
	if err != nil {
		return nil, fmt.Errorf("checkpoint storage: %w", err)
	}
	s := NewStorage(fsys, root)
	s.prefix = prefix
	return s, nil
}

// resolve turns a path or URI into a file system, the path inside it and the
// prefix that turns such paths back into URIs of the same form.
func resolve(uri string) (fsys vfs.FS, p, prefix string, err error) {
	fsys, p, err = vfs.Resolve(uri)
	if err != nil {
		return nil, "", "", err
	}
	prefix = vfs.Prefix(uri)
	if prefix == "" {
		p = filepath.ToSlash(p)
	}
	return fsys, p, prefix, nil
}

// Root is the directory holding the checkpoints, in the form the storage
// was opened with (a URI if it was opened with one).
func (s *Storage) Root() string { return s.prefix + s.root }

// Dir is the directory of checkpoint id, in the form of Root.
func (s *Storage) Dir(id int64) string { return s.prefix + s.dir(id) }

// dir is the directory of checkpoint id inside the file system.
func (s *Storage) dir(id int64) string { return path.Join(s.root, dirName(id)) }

func dirName(id int64) string { return "chk-" + strconv.FormatInt(id, 10) }

// parseDirName returns the id of a "chk-<id>" name.
func parseDirName(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "chk-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != rest {
		return 0, false
	}
	return id, true
}

// NewTaskWriter starts the file of one subtask in checkpoint id. kgs is the
// key-group range the subtask owns (empty for a task without keyed state).
func (s *Storage) NewTaskWriter(id int64, task string, subtask, parallelism int, kgs state.KeyGroupRange) (*TaskWriter, error) {
	return newTaskWriter(s.fs, s.dir(id), id, task, subtask, parallelism, kgs, fileVersion)
}

// taskFileName is "<task>-<subtask>.state". Task ids are made file-name safe;
// when that changes the name, a hash of the original keeps two tasks whose
// ids differ only in unsafe characters apart.
func taskFileName(task string, subtask int) string {
	safe := []byte(task)
	changed := false
	for i, c := range safe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			safe[i] = '_'
			changed = true
		}
	}
	name := string(safe)
	if changed || strings.HasPrefix(name, ".") {
		name = fmt.Sprintf("%s.%08x", strings.TrimLeft(name, "."), crc32.ChecksumIEEE([]byte(task)))
	}
	return fmt.Sprintf("%s-%d.state", name, subtask)
}

// WriteMetadata completes checkpoint md.ID, the commit point of a
// checkpoint. It syncs the checkpoint directory, so that the task files the
// metadata lists are durable under their names, then writes _metadata under a
// temporary name, syncs it, renames it into place and syncs the directory
// again. A checkpoint directory thus either has complete metadata naming
// durable files or none; on error, none is left behind.
func (s *Storage) WriteMetadata(md Metadata) error {
	if md.Version == 0 {
		md.Version = MetadataVersion
	}
	if err := md.validate(); err != nil {
		return fmt.Errorf("write checkpoint %d metadata: %w", md.ID, err)
	}
	b, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return fmt.Errorf("write checkpoint %d metadata: %w", md.ID, err)
	}
	dir := s.dir(md.ID)
	if err := s.fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("write checkpoint %d metadata: %w", md.ID, err)
	}
	if err := s.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("write checkpoint %d metadata: make its task files durable: %w", md.ID, err)
	}
	tmp := path.Join(dir, "."+MetadataFile+".inprogress")
	final := path.Join(dir, MetadataFile)
	f, err := s.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("write checkpoint %d metadata: %w", md.ID, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = s.fs.Rename(tmp, final); err == nil {
			if err = s.fs.SyncDir(dir); err != nil {
				// The rename may or may not survive a crash: take it back,
				// so that the failed checkpoint does not look complete.
				s.fs.Remove(final)
			}
		}
	}
	if err != nil {
		s.fs.RemoveAll(tmp)
		return fmt.Errorf("write checkpoint %d metadata %s: %w", md.ID, s.prefix+final, err)
	}
	return nil
}

// validate checks what a restore relies on: a known version, an id, and task
// files that stay inside the checkpoint directory.
func (md *Metadata) validate() error {
	if md.Version != MetadataVersion {
		return fmt.Errorf("metadata version %d is not supported (this loom reads version %d)", md.Version, MetadataVersion)
	}
	if md.ID < 1 {
		return fmt.Errorf("checkpoint id %d is not positive", md.ID)
	}
	seen := make(map[TaskID]bool, len(md.Tasks))
	for _, t := range md.Tasks {
		id := TaskID{t.Task, t.Subtask}
		switch {
		case seen[id]:
			return fmt.Errorf("task %v is listed twice", id)
		case t.File == "" || t.File != path.Base(t.File) || strings.HasPrefix(t.File, "."):
			return fmt.Errorf("task %v: file %q must be a plain name inside the checkpoint directory", id, t.File)
		case t.Subtask < 0 || t.Subtask >= t.Parallelism:
			return fmt.Errorf("task %v: subtask outside parallelism %d", id, t.Parallelism)
		case t.KeyGroups.Start < 0 || t.KeyGroups.End < t.KeyGroups.Start:
			return fmt.Errorf("task %v: invalid key-group range %v", id, t.KeyGroups)
		case len(t.Shared) > 0 && !t.Incremental:
			return fmt.Errorf("task %v: a full snapshot lists %d shared files", id, len(t.Shared))
		}
		for _, f := range t.Shared {
			if err := checkSharedPath(f.Path); err != nil {
				return fmt.Errorf("task %v: %w", id, err)
			}
			if f.Size < 0 {
				return fmt.Errorf("task %v: shared file %s has negative size %d", id, f.Path, f.Size)
			}
		}
		seen[id] = true
	}
	for _, id := range md.Finished {
		switch {
		case seen[id]:
			return fmt.Errorf("task %v is listed twice (finished, and with a snapshot or finished again)", id)
		case id.Task == "" || id.Subtask < 0:
			return fmt.Errorf("finished task %v is not a subtask", id)
		}
		seen[id] = true
	}
	return nil
}

// Discard deletes checkpoint id's directory. A missing directory is no
// error. It first removes _metadata and syncs the directory, so that a crash
// in the middle of deleting the task files never leaves a checkpoint that
// looks complete but lacks files; the rest of the directory, if a crash
// brings it back, is an incomplete checkpoint that RemoveIncomplete deletes.
func (s *Storage) Discard(id int64) error {
	dir := s.dir(id)
	err := s.fs.Remove(path.Join(dir, MetadataFile))
	if err == nil {
		err = s.fs.SyncDir(dir)
	} else if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err == nil {
		err = s.fs.RemoveAll(dir)
	}
	if err != nil {
		return fmt.Errorf("discard checkpoint %d: %w", id, err)
	}
	return nil
}

// IDs lists the checkpoints under the root, ascending: complete ones (with
// _metadata) and incomplete ones. A job restarting passes complete as
// Config.Retained and a next id above both lists to New.
func (s *Storage) IDs() (complete, incomplete []int64, err error) {
	return listCheckpoints(s.fs, s.root)
}

// RemoveIncomplete deletes the directories of incomplete checkpoints, the
// leftovers of aborted or interrupted ones. Call it when no checkpoint is in
// flight, such as before the job (re)starts.
func (s *Storage) RemoveIncomplete() error {
	_, incomplete, err := s.IDs()
	if err != nil {
		return err
	}
	for _, id := range incomplete {
		if err := s.Discard(id); err != nil {
			return err
		}
	}
	return nil
}

func listCheckpoints(fsys vfs.FS, root string) (complete, incomplete []int64, err error) {
	infos, err := fsys.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("list checkpoints in %s: %w", root, err)
	}
	for _, fi := range infos {
		id, ok := parseDirName(fi.Name())
		if !ok || !fi.IsDir() {
			continue
		}
		has, err := exists(fsys, path.Join(root, fi.Name(), MetadataFile))
		if err != nil {
			return nil, nil, err
		}
		if has {
			complete = append(complete, id)
		} else {
			incomplete = append(incomplete, id)
		}
	}
	slices.Sort(complete)
	slices.Sort(incomplete)
	return complete, incomplete, nil
}

func exists(fsys vfs.FS, p string) (bool, error) {
	_, err := fsys.Stat(p)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("check %s: %w", p, err)
}

// Load finds the checkpoint to restore from p, a local path or a URI of a
// registered scheme (hdfs://...): either a chk-<id> directory, or a root
// holding several, in which case the complete checkpoint with the highest id
// is chosen. It returns the metadata and the checkpoint's directory, in the
// form p was given (pass it to OpenRestore).
func Load(p string) (*Metadata, string, error) {
	fsys, inner, prefix, err := resolve(p)
	if err != nil {
		return nil, "", fmt.Errorf("load checkpoint: %w", err)
	}
	md, dir, err := loadFS(fsys, inner, prefix)
	if err != nil {
		return nil, "", err
	}
	return md, prefix + dir, nil
}

// LoadFS is Load on a given file system, p being a path inside it. Besides
// reading the metadata it checks that every task file it lists exists with
// its recorded size, so that a damaged checkpoint is refused here, naming the
// file, rather than when some task restores.
func LoadFS(fsys vfs.FS, p string) (*Metadata, string, error) { return loadFS(fsys, p, "") }

// loadFS is LoadFS naming paths with prefix (vfs.Prefix of what the user
// gave) in messages, so that they can be passed back as they are.
func loadFS(fsys vfs.FS, p, prefix string) (*Metadata, string, error) {
	p = path.Clean(p)
	if _, ok := parseDirName(path.Base(p)); ok {
		md, err := readMetadata(fsys, p, prefix)
		if err != nil {
			return nil, "", err
		}
		if err := checkTaskFiles(fsys, p, prefix, md); err != nil {
			return nil, "", err
		}
		return md, p, nil
	}
	names, err := fsys.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("checkpoint path %s does not exist", prefix+p)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list checkpoints in %s: %w", prefix+p, err)
	}
	complete, incomplete, err := listCheckpoints(fsys, p)
	if err != nil {
		return nil, "", err
	}
	if len(complete) == 0 {
		found := "nothing named chk-<id>"
		if len(incomplete) > 0 {
			var s []string
			for _, id := range incomplete {
				s = append(s, dirName(id))
			}
			found = strings.Join(s, ", ") + " without " + MetadataFile + " (incomplete)"
		} else if len(names) > 0 {
			found += fmt.Sprintf(" among %d entries", len(names))
		}
		return nil, "", fmt.Errorf("%w in %s: found %s; pass a directory that holds chk-<id> directories with %s",
			ErrNoCheckpoint, prefix+p, found, MetadataFile)
	}
	// The latest complete checkpoint that is whole; a damaged one is
	// skipped, and said so (Metadata.Skipped), never restored.
	var skipped []string
	var firstErr error
	for k := len(complete) - 1; k >= 0; k-- {
		dir := path.Join(p, dirName(complete[k]))
		md, err := readMetadata(fsys, dir, prefix)
		if err == nil {
			err = checkTaskFiles(fsys, dir, prefix, md)
		}
		if err == nil {
			md.Skipped = skipped
			return md, dir, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		skipped = append(skipped, fmt.Sprintf("checkpoint %d refused: %v", complete[k], err))
	}
	if len(skipped) == 1 {
		return nil, "", firstErr
	}
	return nil, "", fmt.Errorf("no complete checkpoint in %s can be restored: %w (and %s)", prefix+p, firstErr, strings.Join(skipped[1:], "; "))
}

// checkTaskFiles makes sure the task files md lists are all there, each of
// the size the metadata recorded, and so are the shared files of its
// incremental snapshots (under dir's parent, the storage root).
func checkTaskFiles(fsys vfs.FS, dir, prefix string, md *Metadata) error {
	for _, t := range md.Tasks {
		p := path.Join(dir, t.File)
		fi, err := fsys.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: checkpoint %d lists task file %s of %s/%d, which does not exist", ErrCorrupt, md.ID, prefix+p, t.Task, t.Subtask)
		}
		if err != nil {
			return fmt.Errorf("check checkpoint %d task file: %w", md.ID, err)
		}
		if fi.Size() != t.TaskFileSize() {
			return fmt.Errorf("%w: checkpoint %d task file %s has %d bytes, but the metadata recorded %d", ErrCorrupt, md.ID, prefix+p, fi.Size(), t.TaskFileSize())
		}
	}
	return checkSharedFiles(fsys, path.Dir(dir), prefix, md)
}

func readMetadata(fsys vfs.FS, dir, prefix string) (*Metadata, error) {
	p := path.Join(dir, MetadataFile)
	shown := prefix + p
	b, err := vfs.ReadFile(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := fsys.ReadDir(dir); errors.Is(derr, fs.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint directory %s does not exist", prefix+dir)
		}
		return nil, fmt.Errorf("%w: %s has no %s, so the checkpoint never completed; pass its parent directory to restore the latest complete one",
			ErrNoCheckpoint, prefix+dir, MetadataFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint metadata %s: %w", shown, err)
	}
	var md Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("%w: metadata %s: %v", ErrCorrupt, shown, err)
	}
	if err := md.validate(); err != nil {
		return nil, fmt.Errorf("%w: metadata %s: %v", ErrCorrupt, shown, err)
	}
	if id, ok := parseDirName(path.Base(dir)); ok && id != md.ID {
		return nil, fmt.Errorf("%w: metadata %s names checkpoint %d, not %d", ErrCorrupt, shown, md.ID, id)
	}
	return &md, nil
}
