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
type TaskSnapshot struct {
	Task        string              `json:"task"`
	Subtask     int                 `json:"subtask"`
	Parallelism int                 `json:"parallelism"`
	KeyGroups   state.KeyGroupRange `json:"keyGroups"`
	File        string              `json:"file"` // relative to the checkpoint directory
	Size        int64               `json:"size"`
}

// Metadata describes a complete checkpoint. GraphHash identifies the job
// graph that wrote it; the caller compares it with the graph being restored.
type Metadata struct {
	Version   int            `json:"version"`
	Job       string         `json:"job"`
	GraphHash string         `json:"graphHash"`
	ID        int64          `json:"id"`
	Timestamp time.Time      `json:"timestamp"`
	Tasks     []TaskSnapshot `json:"tasks"`
}

// Storage keeps checkpoints under a root directory: <root>/chk-<id>/ holds
// the task files of checkpoint id and, once complete, its _metadata. Its
// methods may be called from several goroutines (each TaskWriter from one).
type Storage struct {
	fs   FS
	root string
}

// NewStorage returns storage on fsys under root (slash-separated).
func NewStorage(fsys FS, root string) *Storage {
	return &Storage{fs: fsys, root: path.Clean(root)}
}

// NewLocalStorage returns storage in the local directory root.
func NewLocalStorage(root string) *Storage { return NewStorage(LocalFS{}, filepath.ToSlash(root)) }

// Root is the directory holding the checkpoints.
func (s *Storage) Root() string { return s.root }

// Dir is the directory of checkpoint id.
func (s *Storage) Dir(id int64) string { return path.Join(s.root, dirName(id)) }

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
	return newTaskWriter(s.fs, s.Dir(id), id, task, subtask, parallelism, kgs)
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

// WriteMetadata completes checkpoint md.ID: it writes _metadata under a
// temporary name, syncs it and renames it into place, so a checkpoint
// directory either has complete metadata or none.
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
	dir := s.Dir(md.ID)
	if err := s.fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("write checkpoint %d metadata: %w", md.ID, err)
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
		err = s.fs.Rename(tmp, final)
	}
	if err != nil {
		s.fs.RemoveAll(tmp)
		return fmt.Errorf("write checkpoint %d metadata %s: %w", md.ID, final, err)
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
		}
		seen[id] = true
	}
	return nil
}

// Discard deletes checkpoint id's directory. A missing directory is no error.
func (s *Storage) Discard(id int64) error {
	if err := s.fs.RemoveAll(s.Dir(id)); err != nil {
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

func listCheckpoints(fsys FS, root string) (complete, incomplete []int64, err error) {
	names, err := fsys.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("list checkpoints in %s: %w", root, err)
	}
	for _, n := range names {
		id, ok := parseDirName(n)
		if !ok {
			continue
		}
		has, err := exists(fsys, path.Join(root, n, MetadataFile))
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

func exists(fsys FS, p string) (bool, error) {
	f, err := fsys.Open(p)
	if err == nil {
		f.Close()
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("check %s: %w", p, err)
}

// Load finds the checkpoint to restore from the local path p: either a
// chk-<id> directory, or a root holding several, in which case the complete
// checkpoint with the highest id is chosen. It returns the metadata and the
// checkpoint's directory.
func Load(p string) (*Metadata, string, error) { return LoadFS(LocalFS{}, filepath.ToSlash(p)) }

// LoadFS is Load on any FS.
func LoadFS(fsys FS, p string) (*Metadata, string, error) {
	p = path.Clean(p)
	if _, ok := parseDirName(path.Base(p)); ok {
		md, err := readMetadata(fsys, p)
		if err != nil {
			return nil, "", err
		}
		return md, p, nil
	}
	names, err := fsys.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("checkpoint path %s does not exist", p)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list checkpoints in %s: %w", p, err)
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
			ErrNoCheckpoint, p, found, MetadataFile)
	}
	dir := path.Join(p, dirName(complete[len(complete)-1]))
	md, err := readMetadata(fsys, dir)
	if err != nil {
		return nil, "", err
	}
	return md, dir, nil
}

func readMetadata(fsys FS, dir string) (*Metadata, error) {
	p := path.Join(dir, MetadataFile)
	f, err := fsys.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := fsys.ReadDir(dir); errors.Is(derr, fs.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint directory %s does not exist", dir)
		}
		return nil, fmt.Errorf("%w: %s has no %s, so the checkpoint never completed; pass its parent directory to restore the latest complete one",
			ErrNoCheckpoint, dir, MetadataFile)
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoint metadata: %w", err)
	}
	defer f.Close()
	b := make([]byte, f.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read checkpoint metadata %s: %w", p, err)
	}
	var md Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("%w: metadata %s: %v", ErrCorrupt, p, err)
	}
	if err := md.validate(); err != nil {
		return nil, fmt.Errorf("%w: metadata %s: %v", ErrCorrupt, p, err)
	}
	if id, ok := parseDirName(path.Base(dir)); ok && id != md.ID {
		return nil, fmt.Errorf("%w: metadata %s names checkpoint %d, not %d", ErrCorrupt, p, md.ID, id)
	}
	return &md, nil
}
