package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Local is the operating system's file system: Sync is fsync, SyncDir is
// fsync of the directory. Its zero value is ready to use; Default holds one.
type Local struct{}

// Default is the local file system, the FS of plain paths and file:// URIs.
var Default FS = Local{}

var _ FS = Local{}

// Create implements FS with os.Create.
func (Local) Create(name string) (File, error) {
	f, err := os.Create(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Append implements FS: it opens an existing file for writing at its end.
func (Local) Append(name string) (File, error) {
	f, err := os.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Open implements FS.
func (Local) Open(name string) (ReadableFile, error) {
	f, err := os.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return localFile{File: f, size: fi.Size()}, nil
}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

// Stat implements FS.
func (Local) Stat(name string) (fs.FileInfo, error) { return os.Stat(filepath.FromSlash(name)) }

// ReadDir implements FS. Symbolic links are followed, so that a linked
// directory is listed as a directory.
func (Local) ReadDir(dir string) ([]fs.FileInfo, error) {
	d := filepath.FromSlash(dir)
	entries, err := os.ReadDir(d)
	if err != nil {
		return nil, err
	}
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if fi, err = os.Stat(filepath.Join(d, e.Name())); err != nil {
				return nil, err
			}
		}
		infos = append(infos, fi)
	}
	return infos, nil
}

// Rename implements FS with os.Rename (rename(2), atomic on POSIX file
// systems). It does not sync the directory: call SyncDir.
func (Local) Rename(oldname, newname string) error {
	return os.Rename(filepath.FromSlash(oldname), filepath.FromSlash(newname))
}

// SyncDir implements FS: it fsyncs the directory, which makes the entries
// created, renamed or removed in it durable.
func (Local) SyncDir(dir string) error { return syncDir(filepath.FromSlash(dir)) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "sync directory", Path: dir, Err: unwrapPathError(err)}
	}
	return nil
}

// Truncate implements FS: truncate and fsync, so the new size is durable.
func (Local) Truncate(name string, size int64) error {
	f, err := os.OpenFile(filepath.FromSlash(name), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MkdirAll implements FS: it creates the missing directories and fsyncs the
// parent of each, so that they survive a crash.
func (Local) MkdirAll(dir string) error {
	d := filepath.Clean(filepath.FromSlash(dir))
	// The directories to create, deepest first.
	var missing []string
	for p := d; ; {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break // exists, or an error MkdirAll reports better
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("make directory %s durable: %w", missing[i], err)
		}
	}
	return nil
}

// Remove implements FS with os.Remove.
func (Local) Remove(name string) error { return os.Remove(filepath.FromSlash(name)) }

// RemoveAll implements FS with os.RemoveAll.
func (Local) RemoveAll(name string) error { return os.RemoveAll(filepath.FromSlash(name)) }

var errIsDir = errors.New("is a directory")

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
