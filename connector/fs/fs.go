// Package fs is the file-system seam of loom's file connectors. Connectors
// resolve a path with For and use only the FileSystem interface, so the local
// file system and HDFS (which registers the "hdfs" scheme from package hdfs)
// are interchangeable.
//
// Paths inside a FileSystem are slash-separated and absolute or relative as
// the file system understands them; URIs ("file:///x", "hdfs://nn:8020/x") are
// turned into such paths by For.
package fs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"
	"sync"
)

// File is an open file for reading. ReadAt may be called concurrently with
// itself but not with Read or Seek; readers in loom use one File from one
// goroutine.
type File interface {
	io.ReaderAt
	io.ReadSeeker
	io.Closer
	// Size is the file's length in bytes when it was opened.
	Size() int64
}

// FileSystem is what connectors need from a file system. Implementations must
// be safe for concurrent use by several tasks.
type FileSystem interface {
	// Open opens a file for reading.
	Open(path string) (File, error)
	// Stat describes a file or directory; a missing path gives an error
	// satisfying errors.Is(err, io/fs.ErrNotExist).
	Stat(path string) (iofs.FileInfo, error)
	// ReadDir lists a directory's entries (any order; List sorts).
	ReadDir(path string) ([]iofs.FileInfo, error)
	// List expands pattern into the sorted list of files it names: a file
	// names itself, a directory its non-hidden files recursively, a glob
	// (path.Match syntax in any component) the files and directories it
	// matches. A pattern matching nothing is an error naming it. Hidden files
	// (names starting with '.' or '_') are skipped inside directories.
	List(pattern string) ([]string, error)
	// Create creates or truncates a file for writing.
	Create(path string) (io.WriteCloser, error)
	// Append opens an existing file for writing at its end.
	Append(path string) (io.WriteCloser, error)
	// Rename moves from to to, replacing to if it exists.
	Rename(from, to string) error
	// Truncate cuts the file at path to size bytes.
	Truncate(path string, size int64) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(path string) error
	// RemoveAll removes path and anything below it; a missing path is no error.
	RemoveAll(path string) error
}

// ErrNoMatch is returned (wrapped, with the pattern) by List when a pattern
// names no file.
var ErrNoMatch = errors.New("no such file or directory")

var (
	regMu   sync.Mutex
	openers            = map[string]func(authority string) (FileSystem, error){}
	opened             = map[string]FileSystem{}
	localFS FileSystem = Local{}
)

// Register makes For resolve URIs with the given scheme ("hdfs") through
// open, called with the URI's authority ("host:port", or "" for
// "scheme:///path", meaning the scheme's default, e.g. fs.defaultFS). open is
// called at most once successfully per authority; its file system is shared.
// Registering a scheme twice replaces the first registration.
func Register(scheme string, open func(authority string) (FileSystem, error)) {
	regMu.Lock()
	defer regMu.Unlock()
	openers[scheme] = open
	for k := range opened {
		if strings.HasPrefix(k, scheme+"://") {
			delete(opened, k)
		}
	}
}

// For resolves a path or URI to its file system and the path inside it.
// Plain paths and "file:" URIs go to the local file system;
// "scheme://authority/p" goes to the file system the scheme's registration
// opens for that authority, with path "/p". An unregistered scheme is an
// error naming it.
func For(uri string) (FileSystem, string, error) {
	scheme, rest, ok := splitScheme(uri)
	if !ok {
		return localFS, uri, nil
	}
	p, authority := rest, ""
	if strings.HasPrefix(rest, "//") {
		// "//host:port/path" -> authority "host:port", path "/path".
		i := strings.IndexByte(rest[2:], '/')
		if i < 0 {
			authority, p = rest[2:], "/"
		} else {
			authority, p = rest[2:2+i], rest[2+i:]
		}
	}
	if scheme == "file" {
		return localFS, p, nil
	}
	key := scheme + "://" + authority
	regMu.Lock()
	defer regMu.Unlock()
	if fsys, ok := opened[key]; ok {
		return fsys, p, nil
	}
	open, ok := openers[scheme]
	if !ok {
		return nil, "", fmt.Errorf("path %s: no file system registered for scheme %q (loom knows file:// and plain paths; hdfs:// needs the hdfs package linked in)", uri, scheme)
	}
	fsys, err := open(authority)
	if err != nil {
		return nil, "", fmt.Errorf("path %s: open %s file system: %w", uri, scheme, err)
	}
	opened[key] = fsys
	return fsys, p, nil
}

// splitScheme splits "scheme:rest". A scheme is letters, digits, '+', '-',
// '.', starting with a letter, and longer than one character so that Windows
// drive letters are not taken for schemes.
func splitScheme(uri string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(uri, ':')
	if i < 2 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		c := uri[j]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(uri[:i]), uri[i+1:], true
}

// Hidden reports whether a file name is hidden from listings: names starting
// with '.' or '_' (in-progress files, _SUCCESS markers, .crc files).
func Hidden(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}
