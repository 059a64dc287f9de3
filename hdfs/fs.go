package hdfs

import (
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/loom-yarn/loom/vfs"
)

// FileSystem is loom's file-system seam, vfs.FS, which both Local and
// *Client implement.
type FileSystem = vfs.FS

// File is an open file for reading: io.ReaderAt, io.ReadSeeker, io.Closer
// and Size.
type File = vfs.ReadableFile

// FileInfo describes a file or directory.
type FileInfo = iofs.FileInfo

// Local is the local file system.
type Local = vfs.Local

// init registers the "hdfs" scheme, so that vfs.Resolve (and through it the
// file connectors and checkpoint storage) reaches HDFS by URI in every
// binary that links this package: "hdfs://host:port/p" that NameNode (or
// nameservice), "hdfs:///p" the default file system of $HADOOP_CONF_DIR.
// The registration opens nothing; a client is dialled on first use.
func init() {
	vfs.Register("hdfs", func(authority string) (vfs.FS, error) {
		return clientFor(authority)
	})
}

var (
	clientsMu sync.Mutex
	clients   = map[string]*Client{} // HADOOP_CONF_DIR + "|" + authority -> client
)

// clientFor returns the cached client for an authority ("" for the default
// file system) of the configuration that LoadConfig finds now.
func clientFor(authority string) (*Client, error) {
	cfg, err := LoadConfig()
	if err != nil {
		return nil, fmt.Errorf("hdfs: %w", err)
	}
	where := ""
	if authority == "" {
		if authority, err = cfg.DefaultAuthority(); err != nil {
			return nil, fmt.Errorf("hdfs: %w", err)
		}
		_, where = cfg.DefaultFS()
	} else if def, err := cfg.DefaultAuthority(); err == nil && def == authority {
		_, where = cfg.DefaultFS()
	} else {
		where = "the path's hdfs://" + authority
	}
	key := cfg.Dir + "|" + cfg.User + "|" + authority
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[key]; ok {
		return c, nil
	}
	c, err := dial(cfg, authority, where)
	if err != nil {
		return nil, err
	}
	clients[key] = c
	return c, nil
}

// For picks the file system of a path and returns the path inside it: plain
// paths and file:// URIs are local; hdfs://host:port/p, hdfs:///p (the
// default file system of $HADOOP_CONF_DIR) and hdfs://nameservice/p give a
// cached *Client for that file system and "/p". Other schemes are an error.
// It is a stricter vfs.Resolve for HDFS tools: it rejects file:// URIs of
// another host and any other scheme, and normalizes the authority through
// the Hadoop configuration (Config.Resolve) before picking the client.
func For(p string) (FileSystem, string, error) {
	scheme, rest, ok := splitScheme(p)
	if !ok {
		return Local{}, p, nil
	}
	switch scheme {
	case "file":
		if strings.HasPrefix(rest, "//") {
			rest = rest[2:]
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				return nil, "", fmt.Errorf("path %s: no path after the authority", p)
			}
			if host := rest[:i]; host != "" && host != "localhost" {
				return nil, "", fmt.Errorf("path %s: file URIs of another host (%s) are not supported", p, host)
			}
			rest = rest[i:]
		}
		return Local{}, rest, nil
	case "hdfs":
		cfg, err := LoadConfig()
		if err != nil {
			return nil, "", fmt.Errorf("hdfs: %w", err)
		}
		authority := ""
		if strings.HasPrefix(rest, "//") && !strings.HasPrefix(rest, "///") {
			loc, err := cfg.Resolve(p)
			if err != nil {
				return nil, "", fmt.Errorf("hdfs: %w", err)
			}
			authority = loc.Authority
		}
		c, err := clientFor(authority)
		if err != nil {
			return nil, "", err
		}
		loc, err := c.abs(p)
		if err != nil {
			return nil, "", err
		}
		return c, loc, nil
	default:
		return nil, "", fmt.Errorf("path %s: unsupported scheme %q (loom reads plain paths, file:// and hdfs://)", p, scheme)
	}
}

// AtomicWriter writes a file that appears under its final name all at once:
// the data goes to a hidden ".name.inprogress" file beside it, which Close
// syncs and renames to the final name (replacing a file there), then syncs
// the directory. Abort, or a crash, leaves no file under the final name;
// readers listing the directory skip the hidden temporary.
type AtomicWriter struct {
	fsys       FileSystem
	tmp, final string
	w          vfs.File
	done       bool
}

// InProgressName returns the hidden name under which CreateAtomic writes p:
// "dir/.name.inprogress".
func InProgressName(p string) string {
	dir, name := path.Split(p)
	return dir + "." + name + ".inprogress"
}

// CreateAtomic starts writing p on fsys through a temporary hidden file; see
// AtomicWriter. Parent directories are created.
func CreateAtomic(fsys FileSystem, p string) (*AtomicWriter, error) {
	if p == "" || strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("create %q: not a file name", p)
	}
	if dir := path.Dir(p); dir != "." {
		if err := fsys.MkdirAll(dir); err != nil {
			return nil, err
		}
	}
	tmp := InProgressName(p)
	w, err := fsys.Create(tmp)
	if err != nil {
		return nil, err
	}
	return &AtomicWriter{fsys: fsys, tmp: tmp, final: p, w: w}, nil
}

// Write writes to the temporary file.
func (a *AtomicWriter) Write(b []byte) (int, error) {
	if a.done {
		return 0, fmt.Errorf("write %s: %w", a.final, os.ErrClosed)
	}
	return a.w.Write(b)
}

// Close syncs the temporary file, renames it to the final name and syncs
// the directory, so that the published file survives a crash. On error the
// temporary file is removed and nothing is published.
func (a *AtomicWriter) Close() error {
	if a.done {
		return fmt.Errorf("close %s: %w", a.final, os.ErrClosed)
	}
	a.done = true
	err := a.w.Sync()
	if cerr := a.w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = a.fsys.Rename(a.tmp, a.final)
	}
	if err != nil {
		_ = a.fsys.RemoveAll(a.tmp)
		return fmt.Errorf("publish %s: %w", a.final, err)
	}
	if err := a.fsys.SyncDir(path.Dir(a.final)); err != nil {
		return fmt.Errorf("publish %s: %w", a.final, err)
	}
	return nil
}

// Abort discards what was written; nothing is published.
func (a *AtomicWriter) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	_ = a.w.Close() // the data is discarded either way
	if err := a.fsys.RemoveAll(a.tmp); err != nil {
		return fmt.Errorf("abort %s: %w", a.final, err)
	}
	return nil
}
