package fs

import (
	"fmt"
	"io"
	iofs "io/fs"
	"os"
)

// Local is the local file system. Its zero value is ready to use.
type Local struct{}

var _ FileSystem = Local{}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

// Open opens a local file for reading.
func (Local) Open(path string) (File, error) {
	f, err := os.Open(path)
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
		return nil, fmt.Errorf("open %s: is a directory", path)
	}
	return localFile{File: f, size: fi.Size()}, nil
}

// Stat describes a local path.
func (Local) Stat(path string) (iofs.FileInfo, error) { return os.Stat(path) }

// ReadDir lists a local directory.
func (Local) ReadDir(path string) ([]iofs.FileInfo, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	infos := make([]iofs.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		if fi.Mode()&iofs.ModeSymlink != 0 {
			// Follow links so that a linked directory is walked.
			if fi, err = os.Stat(path + "/" + e.Name()); err != nil {
				return nil, err
			}
		}
		infos = append(infos, fi)
	}
	return infos, nil
}

// List expands a pattern; see FileSystem.List.
func (l Local) List(pattern string) ([]string, error) { return ListFiles(l, pattern) }

// Create creates or truncates a local file.
func (Local) Create(path string) (io.WriteCloser, error) { return os.Create(path) }

// Append opens an existing local file for appending.
func (Local) Append(path string) (io.WriteCloser, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
}

// Rename renames a local file.
func (Local) Rename(from, to string) error { return os.Rename(from, to) }

// Truncate cuts a local file.
func (Local) Truncate(path string, size int64) error { return os.Truncate(path, size) }

// MkdirAll creates a local directory with its parents.
func (Local) MkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

// RemoveAll removes a local path recursively.
func (Local) RemoveAll(path string) error { return os.RemoveAll(path) }
