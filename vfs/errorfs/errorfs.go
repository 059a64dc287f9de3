// Package errorfs wraps a vfs.FS to fail or crash it at a chosen step, so
// that tests can enumerate every step of an operation instead of sampling
// a few: run it with the failure at step k for k = 1, 2, ... until a run
// completes without reaching k.
//
// A step is one mutating operation: create, append, write, sync, close (of
// a File), rename, syncdir, truncate, mkdir, remove, removeall. Reads are not
// steps. The failing operation has no effect. FailAt fails that one step and
// lets the following ones through, to test error handling; CrashAt also
// calls a crash function (vfs.MemFS.Crash, or nothing for a process crash
// that keeps every write) and fails every later operation, reads included,
// since the process that would run them is gone.
package errorfs

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/loom-yarn/loom/vfs"
)

// ErrInjected is satisfied (errors.Is) by every error an FS injects.
var ErrInjected = errors.New("injected failure")

// Op is one step: a mutating operation on a path.
type Op struct {
	Step int    // 1-based
	Kind string // "create", "write", "rename", ...
	Path string
	To   string // the new name, for a rename
}

func (o Op) String() string {
	if o.To != "" {
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.Path, o.To)
	}
	return o.Kind + " " + o.Path
}

// Error is an injected failure.
type Error struct {
	Op Op // the operation that failed
	// CrashedAt is the step of the simulated crash when Op failed because
	// the file system is gone, 0 otherwise.
	CrashedAt int
}

func (e *Error) Error() string {
	switch {
	case e.CrashedAt == 0:
		return fmt.Sprintf("%s: injected failure at step %d", e.Op, e.Op.Step)
	case e.CrashedAt == e.Op.Step:
		return fmt.Sprintf("%s: simulated crash at step %d", e.Op, e.Op.Step)
	}
	return fmt.Sprintf("%s: the file system is gone since the simulated crash at step %d", e.Op, e.CrashedAt)
}

// Is makes errors.Is(err, ErrInjected) true.
func (e *Error) Is(target error) bool { return target == ErrInjected }

// FS is a vfs.FS that counts steps and fails the chosen one. It is safe for
// concurrent use; steps are numbered in the order they reach it.
type FS struct {
	inner vfs.FS

	mu        sync.Mutex
	steps     int
	at        int    // the step to fail, 0 for none
	crash     func() // called at step at when CrashAt armed it
	crashing  bool
	crashedAt int
	log       []Op
}

var _ vfs.FS = (*FS)(nil)

// Wrap returns an FS that passes everything to inner until FailAt or
// CrashAt arms it.
func Wrap(inner vfs.FS) *FS { return &FS{inner: inner} }

// FailAt makes step n (counting from the start of the FS, 1-based) fail
// with an *Error; the steps after it run normally.
func (f *FS) FailAt(n int) {
	f.mu.Lock()
	f.at, f.crash, f.crashing = n, nil, false
	f.mu.Unlock()
}

// CrashAt makes step n call crash (which may be nil) and fail, and every
// operation after it fail too.
func (f *FS) CrashAt(n int, crash func()) {
	f.mu.Lock()
	f.at, f.crash, f.crashing = n, crash, true
	f.mu.Unlock()
}

// Steps is the number of steps that reached the FS, the failed one
// included (operations after a crash are not steps).
func (f *FS) Steps() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.steps
}

// Reached reports whether the armed step was reached.
func (f *FS) Reached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at > 0 && f.steps >= f.at
}

// Log returns the steps so far, in order.
func (f *FS) Log() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Op(nil), f.log...)
}

// step counts op and returns the injected error if it must fail.
func (f *FS) step(kind, name, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := Op{Kind: kind, Path: name, To: to}
	if f.crashedAt > 0 {
		return &Error{Op: op, CrashedAt: f.crashedAt}
	}
	f.steps++
	op.Step = f.steps
	f.log = append(f.log, op)
	if f.steps != f.at {
		return nil
	}
	if !f.crashing {
		return &Error{Op: op}
	}
	f.crashedAt = f.steps
	if f.crash != nil {
		f.crash()
	}
	return &Error{Op: op, CrashedAt: f.crashedAt}
}

// gone fails a read after a crash.
func (f *FS) gone(kind, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashedAt > 0 {
		return &Error{Op: Op{Kind: kind, Path: name}, CrashedAt: f.crashedAt}
	}
	return nil
}

// Create implements vfs.FS.
func (f *FS) Create(name string) (vfs.File, error) {
	if err := f.step("create", name, ""); err != nil {
		return nil, err
	}
	w, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &file{fs: f, f: w, name: name}, nil
}

// Append implements vfs.FS.
func (f *FS) Append(name string) (vfs.File, error) {
	if err := f.step("append", name, ""); err != nil {
		return nil, err
	}
	w, err := f.inner.Append(name)
	if err != nil {
		return nil, err
	}
	return &file{fs: f, f: w, name: name}, nil
}

// Open implements vfs.FS.
func (f *FS) Open(name string) (vfs.ReadableFile, error) {
	if err := f.gone("open", name); err != nil {
		return nil, err
	}
	r, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &reader{ReadableFile: r, fs: f, name: name}, nil
}

// Stat implements vfs.FS.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if err := f.gone("stat", name); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

// ReadDir implements vfs.FS.
func (f *FS) ReadDir(dir string) ([]fs.FileInfo, error) {
	if err := f.gone("readdir", dir); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(dir)
}

// Rename implements vfs.FS.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.step("rename", oldname, newname); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// SyncDir implements vfs.FS.
func (f *FS) SyncDir(dir string) error {
	if err := f.step("syncdir", dir, ""); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// Truncate implements vfs.FS.
func (f *FS) Truncate(name string, size int64) error {
	if err := f.step("truncate", name, ""); err != nil {
		return err
	}
	return f.inner.Truncate(name, size)
}

// MkdirAll implements vfs.FS.
func (f *FS) MkdirAll(dir string) error {
	if err := f.step("mkdir", dir, ""); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

// Remove implements vfs.FS.
func (f *FS) Remove(name string) error {
	if err := f.step("remove", name, ""); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// RemoveAll implements vfs.FS.
func (f *FS) RemoveAll(name string) error {
	if err := f.step("removeall", name, ""); err != nil {
		return err
	}
	return f.inner.RemoveAll(name)
}

// file is a vfs.File whose writes, syncs and close are steps.
type file struct {
	fs   *FS
	f    vfs.File
	name string
}

func (w *file) Write(p []byte) (int, error) {
	if err := w.fs.step("write", w.name, ""); err != nil {
		return 0, err
	}
	return w.f.Write(p)
}

func (w *file) Sync() error {
	if err := w.fs.step("sync", w.name, ""); err != nil {
		return err
	}
	return w.f.Sync()
}

// Close releases the inner file even when the step fails, as a failed
// close(2) does, so that an injected failure leaks nothing.
func (w *file) Close() error {
	err := w.fs.step("close", w.name, "")
	cerr := w.f.Close()
	if err != nil {
		return err
	}
	return cerr
}

// reader fails reads after a crash.
type reader struct {
	vfs.ReadableFile
	fs   *FS
	name string
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.fs.gone("read", r.name); err != nil {
		return 0, err
	}
	return r.ReadableFile.Read(p)
}

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if err := r.fs.gone("read", r.name); err != nil {
		return 0, err
	}
	return r.ReadableFile.ReadAt(p, off)
}

func (r *reader) Seek(off int64, whence int) (int64, error) {
	if err := r.fs.gone("seek", r.name); err != nil {
		return 0, err
	}
	return r.ReadableFile.Seek(off, whence)
}
