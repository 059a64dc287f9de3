//go:build integration

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	lfs "github.com/loom-yarn/loom/connector/fs"
	"github.com/loom-yarn/loom/hdfs"
)

// hdfsClient connects to the dev cluster's default file system and gives a
// fresh directory for the test, removed at the end.
func hdfsClient(t *testing.T) (*hdfs.Client, string) {
	t.Helper()
	clusterEnv(t, "HADOOP_CONF_DIR")
	c, err := hdfs.NewClient()
	if err != nil {
		t.Fatalf("connect to HDFS: %v", err)
	}
	base := fmt.Sprintf("/loom-it/%s-%d", t.Name(), time.Now().UnixNano())
	if err := c.MkdirAll(base); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.RemoveAll(base); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		c.Close()
	})
	return c, base
}

func writeHDFS(t *testing.T, c *hdfs.Client, p string, data []byte) {
	t.Helper()
	w, err := c.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// pattern returns n deterministic bytes that differ at every offset mod 251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestHDFSWriteReadByteRanges(t *testing.T) {
	c, base := hdfsClient(t)
	// 3.5 blocks of 1 MiB, so that ranges cross block boundaries.
	const blockSize = 1 << 20
	data := pattern(3*blockSize + blockSize/2)
	p := base + "/multiblock.bin"
	w, err := c.CreateFile(p, 1, blockSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := c.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != int64(len(data)) {
		t.Fatalf("Size = %d, want %d", f.Size(), len(data))
	}
	all, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("ReadAll: %d bytes, err %v; equal=%v", len(all), err, bytes.Equal(all, data))
	}

	// Splits as a file source reads them: [off, off+n) through a SectionReader.
	ranges := []struct{ off, n int64 }{
		{0, 100}, {blockSize - 10, 20}, {blockSize, blockSize}, {2*blockSize - 1, blockSize + 2},
		{int64(len(data)) - 7, 7}, {12345, 3 * blockSize},
	}
	for _, r := range ranges {
		got, err := io.ReadAll(io.NewSectionReader(f, r.off, r.n))
		if err != nil {
			t.Fatalf("range [%d,+%d): %v", r.off, r.n, err)
		}
		if !bytes.Equal(got, data[r.off:r.off+r.n]) {
			t.Fatalf("range [%d,+%d): wrong bytes", r.off, r.n)
		}
	}
	// ReadAt past the end, and Seek + Read.
	buf := make([]byte, 10)
	if n, err := f.ReadAt(buf, int64(len(data))-4); n != 4 || err != io.EOF {
		t.Fatalf("ReadAt at end-4 = %d, %v; want 4, EOF", n, err)
	}
	if _, err := f.Seek(int64(2*blockSize+3), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, data[2*blockSize+3:2*blockSize+13]) {
		t.Fatalf("Seek+Read: %v", err)
	}
	// Concurrent positional reads.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			off := int64(g) * int64(len(data)/8)
			b := make([]byte, 4096)
			if _, err := f.ReadAt(b, off); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(b, data[off:off+4096]) {
				errs <- fmt.Errorf("concurrent ReadAt at %d: wrong bytes", off)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestHDFSGlobAndList(t *testing.T) {
	c, base := hdfsClient(t)
	for _, name := range []string{"in/a.txt", "in/b.txt", "in/_SUCCESS", "in/.part.inprogress", "in/sub/c.txt", "in/sub/d.log", "other/e.txt"} {
		writeHDFS(t, c, base+"/"+name, []byte(name))
	}
	abs := func(names ...string) []string {
		for i, n := range names {
			names[i] = base + "/" + n
		}
		return names
	}
	cases := []struct {
		pattern string
		want    []string
	}{
		{base + "/in", abs("in/a.txt", "in/b.txt", "in/sub/c.txt", "in/sub/d.log")},
		{base + "/in/*.txt", abs("in/a.txt", "in/b.txt")},
		{base + "/*/*.txt", abs("in/a.txt", "in/b.txt", "other/e.txt")},
		{base + "/in/sub/c.txt", abs("in/sub/c.txt")},
	}
	for _, tc := range cases {
		got, err := c.Glob(tc.pattern)
		if err != nil {
			t.Fatalf("Glob(%s): %v", tc.pattern, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("Glob(%s) = %v, want %v", tc.pattern, got, tc.want)
		}
	}
	// URI forms keep their form.
	got, err := c.List("hdfs://" + base + "/in/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"hdfs://" + base + "/in/a.txt", "hdfs://" + base + "/in/b.txt"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List(hdfs:///...) = %v, want %v", got, want)
	}
	full := "hdfs://" + c.Authority() + base + "/other"
	got, err = c.List(full)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{full + "/e.txt"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List(%s) = %v, want %v", full, got, want)
	}
	// A pattern matching nothing names itself.
	_, err = c.List(base + "/in/*.parquet")
	if err == nil || !strings.Contains(err.Error(), base+"/in/*.parquet") {
		t.Fatalf("List of no match: err = %v", err)
	}
}

func TestHDFSAtomicPublishRenameDelete(t *testing.T) {
	c, base := hdfsClient(t)
	final := base + "/out/part-0000"
	aw, err := hdfs.CreateAtomic(c, final)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := aw.Write([]byte("hello\nworld\n")); err != nil {
		t.Fatal(err)
	}
	// Not visible before Close: no file under the final name, and listings
	// skip the hidden temporary.
	if _, err := c.Stat(final); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("before Close, Stat(final) err = %v, want not-exist", err)
	}
	if _, err := c.Stat(hdfs.InProgressName(final)); err != nil {
		t.Fatalf("in-progress file: %v", err)
	}
	if files, err := c.List(base + "/out"); err != nil || len(files) != 0 {
		t.Fatalf("before Close, List(out) = %v, %v; want no files", files, err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Underlying().ReadFile(final)
	if err != nil || string(got) != "hello\nworld\n" {
		t.Fatalf("published file = %q, %v", got, err)
	}
	if _, err := c.Stat(hdfs.InProgressName(final)); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("temporary left behind: %v", err)
	}

	// Publishing again replaces the file; aborting publishes nothing.
	aw, err = hdfs.CreateAtomic(c, final)
	if err != nil {
		t.Fatal(err)
	}
	aw.Write([]byte("v2"))
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Underlying().ReadFile(final); string(got) != "v2" {
		t.Fatalf("republished file = %q", got)
	}
	ab, err := hdfs.CreateAtomic(c, base+"/out/aborted")
	if err != nil {
		t.Fatal(err)
	}
	ab.Write([]byte("never"))
	if err := ab.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base + "/out/aborted", hdfs.InProgressName(base + "/out/aborted")} {
		if _, err := c.Stat(p); !errors.Is(err, iofs.ErrNotExist) {
			t.Fatalf("after Abort, Stat(%s) err = %v", p, err)
		}
	}

	// Rename, append, truncate.
	if err := c.Rename(final, base+"/out/renamed"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Append(base + "/out/renamed")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("+more"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Truncate(base+"/out/renamed", 4); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Underlying().ReadFile(base + "/out/renamed"); string(got) != "v2+m" {
		t.Fatalf("after append and truncate: %q", got)
	}

	// Recursive delete; errors name the path.
	if err := c.RemoveAll(base + "/out"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Stat(base + "/out/renamed")
	if !errors.Is(err, iofs.ErrNotExist) || !strings.Contains(err.Error(), base+"/out/renamed") {
		t.Fatalf("after RemoveAll: Stat err = %v", err)
	}
	_, err = c.Open(base + "/missing.txt")
	if !errors.Is(err, iofs.ErrNotExist) || !strings.Contains(err.Error(), "hdfs://"+c.Authority()+base+"/missing.txt") {
		t.Fatalf("Open(missing) err = %v", err)
	}
	if err := c.RemoveAll(base + "/never-existed"); err != nil {
		t.Fatalf("RemoveAll(missing) = %v, want nil", err)
	}
}

func TestHDFSForAndConnectorFS(t *testing.T) {
	c, base := hdfsClient(t)
	writeHDFS(t, c, base+"/x.txt", []byte("via For"))
	for _, uri := range []string{"hdfs://" + base + "/x.txt", "hdfs://" + c.Authority() + base + "/x.txt"} {
		fsys, p, err := hdfs.For(uri)
		if err != nil {
			t.Fatalf("For(%s): %v", uri, err)
		}
		if p != base+"/x.txt" {
			t.Fatalf("For(%s) path = %q", uri, p)
		}
		f, err := fsys.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "via For" {
			t.Fatalf("read %q", b)
		}
	}
	// The connectors' own resolver finds HDFS through the registration.
	fsys, p, err := lfs.For("hdfs://" + base + "/x.txt")
	if err != nil {
		t.Fatalf("connector/fs.For: %v", err)
	}
	if fi, err := fsys.Stat(p); err != nil || fi.Size() != int64(len("via For")) {
		t.Fatalf("connector/fs Stat: %v, %v", fi, err)
	}
}

func TestHDFSErrorsNameTheNameNode(t *testing.T) {
	clusterEnv(t, "HADOOP_CONF_DIR")
	// A configuration whose NameNode is not there.
	dir := t.TempDir()
	core := `<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://127.0.0.1:1</value></property>
</configuration>`
	if err := os.WriteFile(filepath.Join(dir, "core-site.xml"), []byte(core), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_CONF_DIR", dir)
	_, err := hdfs.NewClient()
	if err == nil {
		t.Fatal("NewClient with no NameNode succeeded")
	}
	for _, want := range []string{"127.0.0.1:1", "fs.defaultFS in " + filepath.Join(dir, "core-site.xml")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
