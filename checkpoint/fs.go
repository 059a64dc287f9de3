package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the file access checkpoint storage needs, small enough for a local
// directory and for HDFS. Paths are slash-separated. Implementations must
// report missing files with errors that satisfy errors.Is(err, fs.ErrNotExist).
type FS interface {
	// Create makes (or truncates) the file name for writing; its parent
	// directory must exist.
	Create(name string) (WritableFile, error)
	// Open opens name for random-access reading.
	Open(name string) (ReadableFile, error)
	// Rename moves oldname to newname, replacing newname if it exists. It is
	// the commit point of every file: it must be atomic.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and its parents.
	MkdirAll(dir string) error
	// RemoveAll deletes path and everything under it; a missing path is no error.
	RemoveAll(path string) error
	// ReadDir lists the names in dir.
	ReadDir(dir string) ([]string, error)
}

// WritableFile is a file being written. Sync makes the written bytes durable;
// it is called before Close on every file that is then renamed into place.
type WritableFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// ReadableFile is a file open for reading at any offset. ReadAt may be called
// from one goroutine at a time.
type ReadableFile interface {
	ReadAt(p []byte, off int64) (int, error)
	Size() int64
	Close() error
}

// LocalFS is FS on the local file system.
type LocalFS struct{}

var _ FS = LocalFS{}

// Create implements FS.
func (LocalFS) Create(name string) (WritableFile, error) {
	return os.Create(filepath.FromSlash(name))
}

// Open implements FS.
func (LocalFS) Open(name string) (ReadableFile, error) {
	f, err := os.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
	}
	return localFile{f, st.Size()}, nil
}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

// Rename implements FS. It syncs the parent directory afterwards so that the
// rename itself survives a machine crash.
func (LocalFS) Rename(oldname, newname string) error {
	newname = filepath.FromSlash(newname)
	if err := os.Rename(filepath.FromSlash(oldname), newname); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(newname))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MkdirAll implements FS.
func (LocalFS) MkdirAll(dir string) error { return os.MkdirAll(filepath.FromSlash(dir), 0o755) }

// RemoveAll implements FS.
func (LocalFS) RemoveAll(path string) error { return os.RemoveAll(filepath.FromSlash(path)) }

// ReadDir implements FS.
func (LocalFS) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(filepath.FromSlash(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	return names, nil
}
