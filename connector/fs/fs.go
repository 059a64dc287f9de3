// Package fs is the file connectors' name for loom's file-system seam,
// package vfs: For resolves a path or URI to a vfs.FS and the path inside
// it, and Register adds a URI scheme. Both forward to vfs, which keeps the
// one registry, so that a scheme registered here (HDFS registers "hdfs")
// also serves checkpoint storage. New code may use vfs directly.
package fs

import "github.com/loom-yarn/loom/vfs"

// FileSystem is what connectors use of a file system: vfs.FS.
type FileSystem = vfs.FS

// File is a file open for reading: vfs.ReadableFile.
type File = vfs.ReadableFile

// Register makes For (and vfs.Resolve) resolve URIs with the given scheme
// through open; see vfs.Register.
func Register(scheme string, open func(authority string) (FileSystem, error)) {
	vfs.Register(scheme, open)
}

// For resolves a path or URI to its file system and the path inside it:
// plain paths and "file:" URIs are local, "scheme://authority/p" goes to the
// scheme's registered file system with path "/p"; see vfs.Resolve.
func For(uri string) (FileSystem, string, error) { return vfs.Resolve(uri) }
