package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemFS is an in-memory FS that remembers, for every file and directory,
// what was made durable, so that Crash can simulate losing power. Tests run
// checkpoints and sinks on it and crash them at every step (see package
// errorfs) to prove that synced data is never lost and unsynced data is never
// taken for committed — which a crash test on a local disk cannot show, since
// the page cache survives the death of a process.
//
// What it models, exactly:
//
//   - A file's bytes are durable as of its last Sync (of any File open on
//     it). Write, and Create's truncation, change only the current bytes.
//   - A directory's entries are durable as of its last SyncDir. Create,
//     Rename and Remove/RemoveAll change only the current entries. Create
//     makes a new file under the name (like a new inode); until SyncDir, a
//     crash brings back what the name durably held before, if anything.
//   - A rename is an add to the new parent and a remove from the old one,
//     each durable when its own parent is synced: a new name is durable only
//     after SyncDir of its parent. A rename across directories synced on one
//     side only may, after a crash, leave the file under both names or
//     neither, so sync both.
//   - MkdirAll and Truncate are durable at once, as the FS contract says
//     (each new directory's entry in its parent; the file's whole current
//     content, as fsync after ftruncate would).
//   - Crash keeps exactly what was durable and drops everything else: the
//     worst case for lost writes. A real file system may also persist some
//     unsynced changes; crashing the process without calling Crash (all
//     changes kept) models the other extreme, and code must be correct in
//     both.
//
// Handles opened before a Crash fail afterwards, as the process that held
// them is gone. Paths are slash-separated; relative paths start at the root,
// so "a/b" and "/a/b" name the same file. A MemFS is safe for concurrent
// use.
type MemFS struct {
	mu          sync.Mutex
	root        *memNode
	crashes     int // handles remember it, to fail after a Crash
	ignoreSyncs bool
	clock       int64 // modification times, deterministic
}

var _ FS = (*MemFS)(nil)

// memNode is a file or a directory.
type memNode struct {
	dir      bool
	data     []byte              // file: current bytes
	synced   []byte              // file: bytes as of the last Sync
	children map[string]*memNode // directory: current entries
	durable  map[string]*memNode // directory: entries as of the last SyncDir
	mod      time.Time
}

func newDir() *memNode {
	return &memNode{dir: true, children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// NewStrictMem returns an empty in-memory file system whose Crash drops
// everything that was not synced; see MemFS.
func NewStrictMem() *MemFS { return &MemFS{root: newDir()} }

// Crash simulates a machine crash: every file goes back to its bytes as of
// its last Sync, every directory to its entries as of its last SyncDir, and
// files reachable only through entries that were never synced disappear.
// Files and ReadableFiles opened before the crash fail from now on.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashes++
	seen := map[*memNode]bool{}
	var reset func(n *memNode)
	reset = func(n *memNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if !n.dir {
			n.data = slices.Clone(n.synced)
			return
		}
		n.children = maps.Clone(n.durable)
		for _, c := range n.children {
			reset(c)
		}
	}
	reset(m.root)
}

// SetIgnoreSyncs makes Sync, SyncDir, MkdirAll and Truncate make nothing
// durable while ignore is true (they still succeed), to simulate syncs that
// are lost, as pebble's MemFS does.
func (m *MemFS) SetIgnoreSyncs(ignore bool) {
	m.mu.Lock()
	m.ignoreSyncs = ignore
	m.mu.Unlock()
}

var (
	errNotDir   = errors.New("not a directory")
	errNotEmpty = errors.New("directory not empty")
	// errCrashed fails handles opened before a Crash.
	errCrashed = fmt.Errorf("%w: opened before a simulated crash", fs.ErrClosed)
)

// parts splits a path into its components; the root has none.
func parts(name string) ([]string, error) {
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return nil, fs.ErrInvalid
	}
	c = strings.TrimLeft(c, "/")
	if c == "." || c == "" {
		return nil, nil
	}
	return strings.Split(c, "/"), nil
}

// lookup finds the node of name. Locked.
func (m *MemFS) lookup(op, name string) (*memNode, error) {
	ps, err := parts(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	n := m.root
	for _, p := range ps {
		if !n.dir {
			return nil, &fs.PathError{Op: op, Path: name, Err: errNotDir}
		}
		c, ok := n.children[p]
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		n = c
	}
	return n, nil
}

// parent finds the directory holding name and name's last component. Locked.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	ps, err := parts(name)
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if len(ps) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the root directory", fs.ErrInvalid)}
	}
	dir, err := m.lookup(op, strings.Join(ps[:len(ps)-1], "/"))
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: unwrapPathError(err)}
	}
	if !dir.dir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: errNotDir}
	}
	return dir, ps[len(ps)-1], nil
}

func (m *MemFS) now() time.Time {
	m.clock++
	return time.Unix(m.clock, 0).UTC()
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("create", name)
	if err != nil {
		return nil, err
	}
	if old, ok := dir.children[base]; ok && old.dir {
		return nil, &fs.PathError{Op: "create", Path: name, Err: errIsDir}
	}
	n := &memNode{mod: m.now()}
	dir.children[base] = n
	return &memFile{m: m, n: n, name: name, gen: m.crashes}, nil
}

// Append implements FS.
func (m *MemFS) Append(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("append", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &fs.PathError{Op: "append", Path: name, Err: errIsDir}
	}
	return &memFile{m: m, n: n, name: name, gen: m.crashes}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (ReadableFile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return &memReader{m: m, n: n, name: name, gen: m.crashes, size: int64(len(n.data))}, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	base := path.Base(path.Clean("/" + name))
	return n.info(base), nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("readdir", dir)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: errNotDir}
	}
	names := slices.Sorted(maps.Keys(n.children))
	infos := make([]fs.FileInfo, len(names))
	for i, name := range names {
		infos[i] = n.children[name].info(name)
	}
	return infos, nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op := "rename " + oldname + " to"
	from, oldBase, err := m.parent("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := from.children[oldBase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	to, newBase, err := m.parent(op, newname)
	if err != nil {
		return err
	}
	if from == to && oldBase == newBase {
		return nil
	}
	if old, ok := to.children[newBase]; ok {
		switch {
		case old.dir && !n.dir:
			return &fs.PathError{Op: op, Path: newname, Err: errIsDir}
		case !old.dir && n.dir:
			return &fs.PathError{Op: op, Path: newname, Err: errNotDir}
		case old.dir && len(old.children) > 0:
			return &fs.PathError{Op: op, Path: newname, Err: errNotEmpty}
		}
	}
	if n.dir {
		// A directory cannot move below itself.
		src, dst := mustParts(oldname), mustParts(newname)
		if len(dst) > len(src) && slices.Equal(dst[:len(src)], src) {
			return &fs.PathError{Op: op, Path: newname, Err: fs.ErrInvalid}
		}
	}
	delete(from.children, oldBase)
	to.children[newBase] = n
	return nil
}

func mustParts(name string) []string {
	ps, _ := parts(name)
	return ps
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("sync directory", dir)
	if err != nil {
		return err
	}
	if !n.dir {
		return &fs.PathError{Op: "sync directory", Path: dir, Err: errNotDir}
	}
	if !m.ignoreSyncs {
		n.durable = maps.Clone(n.children)
	}
	return nil
}

// Truncate implements FS.
func (m *MemFS) Truncate(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("truncate", name)
	if err != nil {
		return err
	}
	if n.dir {
		return &fs.PathError{Op: "truncate", Path: name, Err: errIsDir}
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: name, Err: fs.ErrInvalid}
	}
	if size <= int64(len(n.data)) {
		n.data = n.data[:size:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.mod = m.now()
	if !m.ignoreSyncs {
		n.synced = slices.Clone(n.data)
	}
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps, err := parts(dir)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	n := m.root
	for _, p := range ps {
		c, ok := n.children[p]
		if !ok {
			c = newDir()
			c.mod = m.now()
			n.children[p] = c
			if !m.ignoreSyncs {
				n.durable[p] = c
			}
		} else if !c.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errNotDir}
		}
		n = c
	}
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errNotEmpty}
	}
	delete(dir.children, base)
	return nil
}

// RemoveAll implements FS. The removal is one change of the parent's
// entries: until SyncDir of the parent, a crash brings the whole tree back
// as it was durably.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	delete(dir.children, base)
	return nil
}

// String describes the current tree and what of it is durable, one line
// per file or directory, for test failure messages.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	var walk func(dir *memNode, prefix string)
	walk = func(dir *memNode, prefix string) {
		names := slices.Sorted(maps.Keys(dir.children))
		for _, name := range slices.Sorted(maps.Keys(dir.durable)) {
			if _, ok := dir.children[name]; !ok {
				fmt.Fprintf(&b, "%s%s: removed, not synced\n", prefix, name)
			}
		}
		for _, name := range names {
			c := dir.children[name]
			entry := ""
			if dir.durable[name] != c {
				entry = " (entry not synced)"
			}
			if c.dir {
				fmt.Fprintf(&b, "%s%s/%s\n", prefix, name, entry)
				walk(c, prefix+name+"/")
				continue
			}
			fmt.Fprintf(&b, "%s%s: %d bytes, %d synced%s\n", prefix, name, len(c.data), len(c.synced), entry)
		}
	}
	walk(m.root, "/")
	return b.String()
}

func (n *memNode) info(name string) fs.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), dir: n.dir, mod: n.mod}
}

// memInfo is a node's fs.FileInfo at the time of Stat or ReadDir.
type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64 {
	if i.dir {
		return 0
	}
	return i.size
}
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

// memFile is a File of a MemFS.
type memFile struct {
	m      *MemFS
	n      *memNode
	name   string
	gen    int
	closed bool
}

// usable checks the handle. Locked.
func (f *memFile) usable(op string) error {
	switch {
	case f.gen != f.m.crashes:
		return &fs.PathError{Op: op, Path: f.name, Err: errCrashed}
	case f.closed:
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("write"); err != nil {
		return 0, err
	}
	f.n.data = append(f.n.data, p...)
	f.n.mod = f.m.now()
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("sync"); err != nil {
		return err
	}
	if !f.m.ignoreSyncs {
		f.n.synced = slices.Clone(f.n.data)
	}
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.usable("close"); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// memReader is a ReadableFile of a MemFS. It reads the file's current
// bytes, as a reader of a local file would.
type memReader struct {
	m      *MemFS
	n      *memNode
	name   string
	gen    int
	size   int64
	off    int64
	closed bool
}

func (r *memReader) usable(op string) error {
	switch {
	case r.gen != r.m.crashes:
		return &fs.PathError{Op: op, Path: r.name, Err: errCrashed}
	case r.closed:
		return &fs.PathError{Op: op, Path: r.name, Err: fs.ErrClosed}
	}
	return nil
}

func (r *memReader) Size() int64 { return r.size }

func (r *memReader) Read(p []byte) (int, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if err := r.usable("read"); err != nil {
		return 0, err
	}
	if r.off >= int64(len(r.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, r.n.data[r.off:])
	r.off += int64(n)
	return n, nil
}

func (r *memReader) ReadAt(p []byte, off int64) (int, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if err := r.usable("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: r.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(r.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *memReader) Seek(offset int64, whence int) (int64, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if err := r.usable("seek"); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += int64(len(r.n.data))
	default:
		return 0, &fs.PathError{Op: "seek", Path: r.name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: r.name, Err: fs.ErrInvalid}
	}
	r.off = offset
	return offset, nil
}

func (r *memReader) Close() error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if err := r.usable("close"); err != nil {
		return err
	}
	r.closed = true
	return nil
}
