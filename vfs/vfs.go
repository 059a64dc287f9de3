// Package vfs is loom's one file-system seam. Every component that keeps
// data in files — checkpoint storage, the file connectors, HDFS — goes
// through FS, so that the same code runs on the local disk, on HDFS, and in
// tests on a strict in-memory file system that forgets what was not synced at
// a simulated crash (NewStrictMem), optionally behind an error-injecting
// wrapper (package errorfs).
//
// # Paths
//
// Paths inside an FS are slash-separated, absolute or relative as the file
// system understands them. URIs ("file:///x", "hdfs://nn:8020/x") are turned
// into an FS and such a path by Resolve.
//
// # Durability
//
// A change is durable — guaranteed to survive a crash of the machine — only
// as follows:
//
//   - Bytes written to a File are durable once its Sync returns nil.
//   - A directory entry made or changed by Create, Rename, Remove or
//     RemoveAll is durable once SyncDir of the parent directory returns nil;
//     a Rename across directories needs SyncDir of both parents.
//   - MkdirAll and Truncate are durable when they return: they are rare
//     (setup and recovery) and everything after them depends on them, so the
//     implementation syncs instead of every caller.
//
// The commit pattern is therefore: write a temporary file, Sync it, Close
// it, Rename it over the final name (the atomic commit point), SyncDir the
// parent. A crash before the SyncDir may leave either the old or the new
// file under the final name, never a mix of the two.
//
// # Errors and ownership
//
// Missing files and directories give errors satisfying
// errors.Is(err, fs.ErrNotExist). Errors name the path. Whoever opens a File
// or ReadableFile closes it, also after an error from one of its methods.
//
// # Concurrency
//
// An FS is safe for concurrent use. A File is used by one goroutine at a
// time; a ReadableFile's ReadAt may be called concurrently with itself, but
// Read and Seek share an offset and belong to one goroutine.
package vfs

import (
	"fmt"
	"io"
	"io/fs"
)

// FS is the file access loom needs, small enough for a local disk, for
// HDFS and for an in-memory test file system. See the package comment for
// what is durable when.
type FS interface {
	// Create creates name for writing, or truncates it if it exists. The
	// parent directory must exist (HDFS creates it; callers must not rely on
	// that). The new entry is durable after SyncDir of the parent.
	Create(name string) (File, error)
	// Append opens the existing file name for writing at its end.
	Append(name string) (File, error)
	// Open opens name for reading at any offset. Opening a directory is an
	// error.
	Open(name string) (ReadableFile, error)
	// Stat describes a file or directory.
	Stat(name string) (fs.FileInfo, error)
	// ReadDir lists the entries of dir, sorted by name.
	ReadDir(dir string) ([]fs.FileInfo, error)
	// Rename moves oldname to newname, replacing a file at newname. It is
	// atomic: a reader sees the old or the new file under newname, never
	// neither and never a mix. It is the commit point of every file written
	// under a temporary name; it is durable after SyncDir of newname's
	// parent (and oldname's, if that differs).
	Rename(oldname, newname string) error
	// SyncDir makes the entries of directory dir durable: files created,
	// renamed into or removed from it. An implementation whose metadata
	// operations are durable when they return (HDFS) may do nothing, not even
	// check that dir exists.
	SyncDir(dir string) error
	// Truncate changes the size of file name to size bytes, durably. A
	// larger size extends the file with zero bytes; callers that must not
	// invent data check the size first.
	Truncate(name string, size int64) error
	// MkdirAll creates directory dir and its missing parents, durably.
	MkdirAll(dir string) error
	// Remove removes a file or an empty directory. A missing name is an
	// error satisfying errors.Is(err, fs.ErrNotExist).
	Remove(name string) error
	// RemoveAll removes name and everything below it. A missing name is no
	// error.
	RemoveAll(name string) error
}

// File is a file open for writing, from Create or Append.
type File interface {
	// Write appends p to the file. The bytes are not durable until Sync.
	Write(p []byte) (int, error)
	// Sync makes every byte written so far durable (fsync on a local disk;
	// see package hdfs for what it means there). A file that is renamed into
	// place must be synced before the rename.
	Sync() error
	// Close releases the file. It does not sync: data written since the last
	// Sync may still be lost in a crash.
	Close() error
}

// ReadableFile is a file open for reading, from Open.
type ReadableFile interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
	// Size is the file's length in bytes when it was opened.
	Size() int64
}

// ReadFile returns the whole content of file name on fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, f.Size())
	n, err := f.ReadAt(b, 0)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read %s: %d of %d bytes: %w", name, n, len(b), err)
}
