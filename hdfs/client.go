package hdfs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"

	"github.com/loom-yarn/loom/vfs"
)

// DialTimeout bounds each TCP connection attempt to a NameNode or DataNode.
var DialTimeout = 10 * time.Second

// Client is a connection to one HDFS file system (one NameNode, or the
// NameNodes of one HA nameservice) acting as one user. It implements
// vfs.FS (see the package comment for what Sync, SyncDir and Rename mean on
// HDFS). Its methods accept any path form Resolve accepts
// ("hdfs://host:port/p", "hdfs:///p", "/p", "p") as long as it names this
// client's file system. A Client is safe for concurrent use.
type Client struct {
	cfg       *Config
	authority string
	addrs     []string
	source    string // where the NameNode address came from
	c         *gohdfs.Client
}

var _ vfs.FS = (*Client)(nil)

// NewClient connects to the default file system (fs.defaultFS) of the Hadoop
// configuration that LoadConfig finds.
func NewClient() (*Client, error) {
	cfg, err := LoadConfig()
	if err != nil {
		return nil, fmt.Errorf("hdfs: %w", err)
	}
	auth, err := cfg.DefaultAuthority()
	if err != nil {
		return nil, fmt.Errorf("hdfs: %w", err)
	}
	_, where := cfg.DefaultFS()
	return dial(cfg, auth, where)
}

// Dial connects to the file system of p (any form Resolve accepts) with cfg.
func Dial(cfg *Config, p string) (*Client, error) {
	loc, err := cfg.Resolve(p)
	if err != nil {
		return nil, fmt.Errorf("hdfs: %w", err)
	}
	where := "the path " + p
	if def, err := cfg.DefaultAuthority(); err == nil && def == loc.Authority {
		_, where = cfg.DefaultFS()
	}
	return dial(cfg, loc.Authority, where)
}

func dial(cfg *Config, authority, where string) (*Client, error) {
	addrs, err := cfg.Namenodes(authority)
	if err != nil {
		return nil, fmt.Errorf("hdfs: %w", err)
	}
	if strings.EqualFold(cfg.Conf["hadoop.security.authentication"], "kerberos") {
		return nil, fmt.Errorf("hdfs: %s asks for Kerberos, which loom does not support yet", cfg.describe("hadoop.security.authentication"))
	}
	opts := gohdfs.ClientOptionsFromConf(hadoopconf.HadoopConf(cfg.Conf))
	opts.Addresses = addrs
	opts.User = cfg.User
	opts.KerberosClient = nil
	d := &net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
	opts.NamenodeDialFunc = d.DialContext
	opts.DatanodeDialFunc = d.DialContext
	c, err := gohdfs.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("hdfs: cannot reach the NameNode at %s (%s): %w", strings.Join(addrs, ","), where, err)
	}
	cl := &Client{cfg: cfg, authority: authority, addrs: addrs, source: where, c: c}
	// The connection is made lazily by some versions: make sure it answers.
	if _, err := c.Stat("/"); err != nil {
		c.Close()
		return nil, fmt.Errorf("hdfs: cannot reach the NameNode at %s (%s): %w", strings.Join(addrs, ","), where, err)
	}
	return cl, nil
}

// Authority returns the file system this client talks to ("host:port" or a
// nameservice).
func (c *Client) Authority() string { return c.authority }

// User returns the HDFS user this client acts as.
func (c *Client) User() string { return c.cfg.User }

// URI returns the full "hdfs://authority/path" URI of p.
func (c *Client) URI(p string) string {
	abs, err := c.abs(p)
	if err != nil {
		return p
	}
	return "hdfs://" + c.authority + abs
}

// Underlying returns the github.com/colinmarc/hdfs/v2 client, for operations
// this package does not wrap.
func (c *Client) Underlying() *gohdfs.Client { return c.c }

// Close closes the connection to the NameNode.
func (c *Client) Close() error { return c.c.Close() }

// abs resolves p to an absolute path of this client's file system.
func (c *Client) abs(p string) (string, error) {
	loc, err := c.cfg.Resolve(p)
	if err != nil {
		// A plain path needs no default FS when the client already has one.
		if _, _, isURI := splitScheme(p); !isURI && p != "" {
			q := p
			if !strings.HasPrefix(q, "/") {
				q = "/user/" + c.cfg.User + "/" + q
			}
			return cleanHDFSPath(q), nil
		}
		return "", fmt.Errorf("hdfs: %w", err)
	}
	if loc.Authority != c.authority {
		return "", fmt.Errorf("hdfs: path %s is on file system %s, but this client is connected to %s", p, loc.Authority, c.authority)
	}
	return loc.Path, nil
}

// PathError is a failed HDFS operation on a path. It wraps the cause, so
// errors.Is(err, fs.ErrNotExist) and errors.Is(err, fs.ErrPermission) work.
type PathError struct {
	Op   string // "open", "create", "rename", ...
	URI  string // hdfs://authority/path
	User string // the HDFS user
	Err  error
}

func (e *PathError) Error() string {
	msg := e.Err.Error()
	switch {
	case errors.Is(e.Err, iofs.ErrNotExist):
		msg = "no such file or directory"
	case errors.Is(e.Err, iofs.ErrPermission):
		msg = fmt.Sprintf("permission denied (HDFS user %q)", e.User)
	case errors.Is(e.Err, iofs.ErrExist):
		msg = "file already exists"
	}
	return "hdfs: " + e.Op + " " + e.URI + ": " + msg
}

// Unwrap returns the cause.
func (e *PathError) Unwrap() error { return e.Err }

func (c *Client) wrap(op, abs string, err error) error {
	if err == nil {
		return nil
	}
	var own *PathError
	if errors.As(err, &own) {
		return err
	}
	inner := err
	var pe *os.PathError
	if errors.As(err, &pe) {
		inner = pe.Err
	}
	var remote gohdfs.Error
	if errors.As(inner, &remote) {
		msg := remote.Message()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		inner = fmt.Errorf("%w: %s", inner, msg)
	} else if strings.Contains(inner.Error(), "no available namenodes") {
		inner = fmt.Errorf("%w (NameNode at %s, from %s)", inner, strings.Join(c.addrs, ","), c.source)
	}
	return &PathError{Op: op, URI: "hdfs://" + c.authority + abs, User: c.cfg.User, Err: inner}
}

// Stat describes a file or directory.
func (c *Client) Stat(p string) (iofs.FileInfo, error) {
	abs, err := c.abs(p)
	if err != nil {
		return nil, err
	}
	fi, err := c.c.Stat(abs)
	if err != nil {
		return nil, c.wrap("stat", abs, err)
	}
	return fi, nil
}

// ReadDir lists a directory's entries, sorted by name.
func (c *Client) ReadDir(p string) ([]iofs.FileInfo, error) {
	abs, err := c.abs(p)
	if err != nil {
		return nil, err
	}
	fis, err := c.c.ReadDir(abs)
	if err != nil {
		return nil, c.wrap("list", abs, err)
	}
	return fis, nil
}

// List expands a pattern into the sorted files it names, like vfs.List: a
// file names itself, a directory its non-hidden files (names not starting
// with '.' or '_') recursively, a glob (path.Match syntax in any component)
// what it matches. Results keep the pattern's form:
// a pattern given as a URI gives URIs, a plain path gives plain paths.
func (c *Client) List(pattern string) ([]string, error) {
	abs, err := c.abs(pattern)
	if err != nil {
		return nil, err
	}
	files, err := vfs.List(c, abs)
	if err != nil {
		return nil, fmt.Errorf("hdfs://%s: %w", c.authority, err)
	}
	if scheme, _, ok := splitScheme(pattern); ok && scheme == "hdfs" {
		prefix := "hdfs://" + c.authority
		if strings.HasPrefix(pattern, "hdfs:///") {
			prefix = "hdfs://"
		}
		for i, f := range files {
			files[i] = prefix + f
		}
	}
	return files, nil
}

// Glob is List under the name the HDFS tools use.
func (c *Client) Glob(pattern string) ([]string, error) { return c.List(pattern) }

// Open opens a file for reading. The File reads sequentially (Read, Seek)
// and by position (ReadAt, also from several goroutines at once); a byte
// range [off, off+n) of a split is io.NewSectionReader(f, off, n).
func (c *Client) Open(p string) (vfs.ReadableFile, error) {
	abs, err := c.abs(p)
	if err != nil {
		return nil, err
	}
	r, err := c.c.Open(abs)
	if err != nil {
		return nil, c.wrap("open", abs, err)
	}
	if r.Stat().IsDir() {
		r.Close()
		return nil, c.wrap("open", abs, errors.New("is a directory"))
	}
	return &file{c: c, abs: abs, r: r, size: r.Stat().Size()}, nil
}

// file is an open HDFS file. Sequential reads use r; positional reads use a
// second reader, so that ReadAt leaves the Read offset alone as io.ReaderAt
// requires.
type file struct {
	c    *Client
	abs  string
	size int64

	mu sync.Mutex // guards r
	r  *gohdfs.FileReader

	atMu sync.Mutex // guards at
	at   *gohdfs.FileReader
}

func (f *file) Size() int64 { return f.size }

func (f *file) Read(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.r.Read(b)
	if err != nil && err != io.EOF {
		err = f.c.wrap("read", f.abs, err)
	}
	return n, err
}

func (f *file) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.r.Seek(off, whence)
	if err != nil {
		err = f.c.wrap("seek", f.abs, err)
	}
	return n, err
}

func (f *file) ReadAt(b []byte, off int64) (int, error) {
	if off >= f.size {
		if len(b) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	f.atMu.Lock()
	defer f.atMu.Unlock()
	if f.at == nil {
		r, err := f.c.c.Open(f.abs)
		if err != nil {
			return 0, f.c.wrap("open", f.abs, err)
		}
		f.at = r
	}
	n, err := f.at.ReadAt(b, off)
	if err != nil && err != io.EOF {
		err = f.c.wrap("read", f.abs, err)
	}
	return n, err
}

func (f *file) Close() error {
	f.mu.Lock()
	err := f.r.Close()
	f.mu.Unlock()
	f.atMu.Lock()
	if f.at != nil {
		f.at.Close()
		f.at = nil
	}
	f.atMu.Unlock()
	return err
}

// Create creates a file for writing, with its parent directories, replacing
// a file that exists. The data is visible under the name once Sync or Close
// returns; for all-or-nothing output use CreateAtomic.
func (c *Client) Create(p string) (vfs.File, error) {
	abs, err := c.abs(p)
	if err != nil {
		return nil, err
	}
	if err := c.c.MkdirAll(path.Dir(abs), 0o755); err != nil {
		return nil, c.wrap("mkdir", path.Dir(abs), err)
	}
	w, err := c.c.Create(abs)
	if errors.Is(err, iofs.ErrExist) {
		if fi, serr := c.c.Stat(abs); serr == nil && fi.IsDir() {
			return nil, c.wrap("create", abs, errors.New("is a directory"))
		}
		if rerr := c.c.Remove(abs); rerr != nil && !errors.Is(rerr, iofs.ErrNotExist) {
			return nil, c.wrap("create", abs, rerr)
		}
		w, err = c.c.Create(abs)
	}
	if err != nil {
		return nil, c.wrap("create", abs, err)
	}
	return &writer{c: c, abs: abs, op: "create", w: w}, nil
}

// CreateFile is Create with an explicit replication factor and block size
// (0 for the cluster's defaults; HDFS requires at least 1 MiB blocks).
func (c *Client) CreateFile(p string, replication int, blockSize int64) (vfs.File, error) {
	abs, err := c.abs(p)
	if err != nil {
		return nil, err
	}
	if replication <= 0 || blockSize <= 0 {
		d, err := c.c.ServerDefaults()
		if err != nil {
			return nil, c.wrap("create", abs, err)
		}
		if replication <= 0 {
			replication = d.Replication
		}
		if blockSize <= 0 {
			blockSize = d.BlockSize
		}
	}
	if err := c.c.MkdirAll(path.Dir(abs), 0o755); err != nil {
		return nil, c.wrap("mkdir", path.Dir(abs), err)
	}
	w, err := c.c.CreateFile(abs, replication, blockSize, 0o644)
	if err != nil {
		return nil, c.wrap("create", abs, err)
	}
	return &writer{c: c, abs: abs, op: "create", w: w}, nil
}

// Append opens an existing file for writing at its end.
func (c *Client) Append(p string) (vfs.File, error) {
	abs, err := c.abs(p)
	if err != nil {
		return nil, err
	}
	w, err := c.c.Append(abs)
	if err != nil {
		return nil, c.wrap("append", abs, err)
	}
	return &writer{c: c, abs: abs, op: "append", w: w}, nil
}

// writer is a file being written. HDFS makes a file's length durable on the
// NameNode only when the file is completed (closed), so Sync completes it —
// once every DataNode of the pipeline acknowledged every packet — and the
// next Write reopens it for append. Completing retries while the NameNode
// waits for the last block's replicas, as the Java client does.
type writer struct {
	c   *Client
	abs string
	op  string
	w   *gohdfs.FileWriter // nil after Sync until the next Write
	// closed is set by Close; the writer is unusable after it.
	closed bool
}

func (w *writer) Write(b []byte) (int, error) {
	if w.closed {
		return 0, w.c.wrap("write", w.abs, os.ErrClosed)
	}
	if w.w == nil {
		fw, err := w.c.c.Append(w.abs)
		if err != nil {
			return 0, w.c.wrap("reopen for append after sync", w.abs, err)
		}
		w.w, w.op = fw, "append"
	}
	n, err := w.w.Write(b)
	if err != nil {
		err = w.c.wrap("write", w.abs, err)
	}
	return n, err
}

// Flush sends buffered data to the first DataNode of the pipeline without
// waiting for acknowledgements (github.com/colinmarc/hdfs/v2's Flush, weaker
// than Java's hflush): readers may see it, but nothing is durable. Use Sync
// for durability.
func (w *writer) Flush() error {
	if w.w == nil {
		return nil
	}
	return w.c.wrap("flush", w.abs, w.w.Flush())
}

// Sync makes the bytes written so far durable as far as HDFS goes: the file
// is completed on the NameNode with its length, after every DataNode of the
// pipeline acknowledged every packet (the DataNodes hold the data in memory
// or on disk as their dfs.datanode.synconclose says). A failed Sync leaves
// the writer unusable for writing.
func (w *writer) Sync() error {
	if w.closed {
		return w.c.wrap("sync", w.abs, os.ErrClosed)
	}
	if w.w == nil {
		return nil
	}
	err := w.complete()
	w.w = nil
	return err
}

// Close completes the file unless Sync just did.
func (w *writer) Close() error {
	if w.closed {
		return w.c.wrap("close", w.abs, os.ErrClosed)
	}
	w.closed = true
	if w.w == nil {
		return nil
	}
	err := w.complete()
	w.w = nil
	return err
}

// complete closes the FileWriter, retrying while the last block replicates.
func (w *writer) complete() error {
	delay := 50 * time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := w.w.Close()
		if err == nil || !gohdfs.IsErrReplicating(err) || time.Now().After(deadline) {
			return w.c.wrap(w.op, w.abs, err)
		}
		time.Sleep(delay)
		if delay < time.Second {
			delay *= 2
		}
	}
}

// Rename moves from to to, replacing to if it is a file (or an empty
// directory, when from is a directory too). It is one NameNode operation
// (rename2 with OVERWRITE, which github.com/colinmarc/hdfs/v2 sends after
// checking that to can be stat'ed): atomic, and durable in the NameNode's
// edit log when it returns. The parent of to must exist.
func (c *Client) Rename(from, to string) error {
	a, err := c.abs(from)
	if err != nil {
		return err
	}
	b, err := c.abs(to)
	if err != nil {
		return err
	}
	if err := c.c.Rename(a, b); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && pe.Path == b {
			return c.wrap("rename "+c.URI(a)+" to", b, err)
		}
		return c.wrap("rename", a, fmt.Errorf("to %s: %w", c.URI(b), unwrapPath(err)))
	}
	return nil
}

// SyncDir does nothing: the NameNode writes every namespace change (create,
// rename, delete, mkdir) to its edit log before the call returns, so there
// is nothing left to make durable. It only checks that p is a path of this
// file system, without a NameNode call.
func (c *Client) SyncDir(p string) error {
	_, err := c.abs(p)
	return err
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Truncate cuts the file to size bytes. HDFS truncates the last block in the
// background when size is not on a block boundary; Truncate waits until the
// file can be appended to again (up to a minute).
func (c *Client) Truncate(p string, size int64) error {
	abs, err := c.abs(p)
	if err != nil {
		return err
	}
	done, err := c.c.Truncate(abs, size)
	if err != nil {
		return c.wrap("truncate", abs, err)
	}
	if done {
		return nil
	}
	// Block recovery in progress: wait until an append can open the file.
	deadline := time.Now().Add(time.Minute)
	delay := 50 * time.Millisecond
	for {
		w, err := c.c.Append(abs)
		if err == nil {
			return c.wrap("truncate", abs, w.Close())
		}
		if time.Now().After(deadline) {
			return c.wrap("truncate", abs, fmt.Errorf("block recovery after truncate did not finish within a minute: %w", unwrapPath(err)))
		}
		time.Sleep(delay)
		if delay < time.Second {
			delay *= 2
		}
	}
}

// MkdirAll creates a directory and its parents.
func (c *Client) MkdirAll(p string) error {
	abs, err := c.abs(p)
	if err != nil {
		return err
	}
	return c.wrap("mkdir", abs, c.c.MkdirAll(abs, 0o755))
}

// Chmod sets the permissions of p (the job's secret is readable by its
// user alone).
func (c *Client) Chmod(p string, mode iofs.FileMode) error {
	abs, err := c.abs(p)
	if err != nil {
		return err
	}
	return c.wrap("chmod", abs, c.c.Chmod(abs, mode))
}

// Remove removes a file or an empty directory.
func (c *Client) Remove(p string) error {
	abs, err := c.abs(p)
	if err != nil {
		return err
	}
	return c.wrap("remove", abs, c.c.Remove(abs))
}

// RemoveAll removes p and everything below it; a missing p is no error.
func (c *Client) RemoveAll(p string) error {
	abs, err := c.abs(p)
	if err != nil {
		return err
	}
	if abs == "/" {
		return c.wrap("remove", abs, errors.New("refusing to remove the root directory"))
	}
	return c.wrap("remove", abs, c.c.RemoveAll(abs))
}
