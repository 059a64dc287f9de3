package hdfs

import (
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/vfs"
	"github.com/loom-yarn/loom/vfs/errorfs"
)

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }

func TestForPicksFileSystem(t *testing.T) {
	tests := []struct {
		in, wantPath string
		local        bool
		wantErr      string
	}{
		{"/tmp/in.txt", "/tmp/in.txt", true, ""},
		{"rel/in.txt", "rel/in.txt", true, ""},
		{"file:///tmp/in.txt", "/tmp/in.txt", true, ""},
		{"file://localhost/tmp/in.txt", "/tmp/in.txt", true, ""},
		{"file:/tmp/in.txt", "/tmp/in.txt", true, ""},
		{"file://otherhost/tmp/x", "", false, "another host"},
		{"s3a://bucket/key", "", false, `unsupported scheme "s3a"`},
	}
	for _, tt := range tests {
		fsys, p, err := For(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("For(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("For(%q): %v", tt.in, err)
			continue
		}
		if _, ok := fsys.(Local); ok != tt.local || p != tt.wantPath {
			t.Errorf("For(%q) = %T, %q; want local=%v, %q", tt.in, fsys, p, tt.local, tt.wantPath)
		}
	}
	// hdfs:// without a configuration says what is missing.
	t.Setenv("HADOOP_CONF_DIR", "")
	t.Setenv("HADOOP_HOME", "")
	_, _, err := For("hdfs:///data/in")
	if err == nil || !strings.Contains(err.Error(), "HADOOP_CONF_DIR is not set") {
		t.Errorf("For(hdfs:///) without configuration: %v", err)
	}
}

func TestLocalFileSystem(t *testing.T) {
	root := t.TempDir()
	fsys, _, err := For(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll(filepath.Join(root, "in", "sub")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"in/a.txt", "in/b.txt", "in/_SUCCESS", "in/.x.inprogress", "in/sub/c.txt"} {
		w, err := fsys.Create(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "0123456789"+name)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := vfs.List(fsys, filepath.Join(root, "in"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "in/a.txt"), filepath.Join(root, "in/b.txt"), filepath.Join(root, "in/sub/c.txt")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}

	// Byte ranges.
	f, err := fsys.Open(filepath.Join(root, "in/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(len("0123456789in/a.txt")) {
		t.Fatalf("Size = %d", f.Size())
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 3, 4))
	if err != nil || string(b) != "3456" {
		t.Fatalf("range read = %q, %v", b, err)
	}
	f.Close()

	// Rename, truncate, remove.
	a, c := filepath.Join(root, "in/a.txt"), filepath.Join(root, "in/c.txt")
	if err := fsys.Rename(a, c); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Truncate(c, 2); err != nil {
		t.Fatal(err)
	}
	if fi, err := fsys.Stat(c); err != nil || fi.Size() != 2 {
		t.Fatalf("after truncate: %v, %v", fi, err)
	}
	if err := fsys.RemoveAll(filepath.Join(root, "in")); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(c); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("after RemoveAll: %v", err)
	}
}

func TestCreateAtomicLocal(t *testing.T) {
	root := t.TempDir()
	final := filepath.Join(root, "out", "part-0")
	aw, err := CreateAtomic(Local{}, final)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(aw, "data")
	if _, err := os.Stat(final); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("final visible before Close: %v", err)
	}
	tmp := filepath.Join(root, "out", ".part-0.inprogress")
	if InProgressName(final) != tmp {
		t.Fatalf("InProgressName = %q", InProgressName(final))
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("temporary: %v", err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(final); err != nil || string(b) != "data" {
		t.Fatalf("published: %q, %v", b, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("temporary left: %v", err)
	}
	if _, err := aw.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}

	ab, err := CreateAtomic(Local{}, filepath.Join(root, "out", "part-1"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(ab, "nope")
	if err := ab.Abort(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "out"))
	if len(entries) != 1 || entries[0].Name() != "part-0" {
		t.Fatalf("after Abort the directory holds %v", entries)
	}
	if _, err := CreateAtomic(Local{}, filepath.Join(root, "dir")+"/"); err == nil {
		t.Fatal("CreateAtomic of a directory name succeeded")
	}
}

// TestRegisteredWithVFS checks that importing the package registers the
// hdfs scheme where checkpoint storage and the connectors resolve URIs.
func TestRegisteredWithVFS(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", "")
	t.Setenv("HADOOP_HOME", "")
	_, _, err := vfs.Resolve("hdfs:///checkpoints/job")
	if err == nil || !strings.Contains(err.Error(), "HADOOP_CONF_DIR is not set") || strings.Contains(err.Error(), "no file system registered") {
		t.Fatalf("vfs.Resolve(hdfs:///...) without configuration: %v, want the hdfs package's configuration error", err)
	}
}

// TestCreateAtomicSurvivesCrashes crashes CreateAtomic + Write + Close at
// every step on the strict in-memory file system: the final name holds the
// whole file or nothing, and once Close returned it survives a crash.
func TestCreateAtomicSurvivesCrashes(t *testing.T) {
	const final, data = "/out/part-0", "all or nothing"
	publish := func(fsys vfs.FS) error {
		aw, err := CreateAtomic(fsys, final)
		if err != nil {
			return err
		}
		if _, err := aw.Write([]byte(data)); err != nil {
			aw.Abort()
			return err
		}
		return aw.Close()
	}
	for k := 1; ; k++ {
		mem := vfs.NewStrictMem()
		efs := errorfs.Wrap(mem)
		efs.CrashAt(k, mem.Crash)
		err := publish(efs)
		if !efs.Reached() {
			if err != nil {
				t.Fatal(err)
			}
			mem.Crash()
			if b, err := vfs.ReadFile(mem, final); err != nil || string(b) != data {
				t.Fatalf("after Close returned and a crash: %q, %v", b, err)
			}
			if k < 7 {
				t.Fatalf("publishing took only %d steps", k-1)
			}
			return
		}
		if !errors.Is(err, errorfs.ErrInjected) {
			t.Fatalf("crash at step %d: %v", k, err)
		}
		if b, err := vfs.ReadFile(mem, final); err == nil && string(b) != data {
			t.Fatalf("crash at step %d (%s): %s holds %q", k, efs.Log()[k-1], final, b)
		} else if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			t.Fatalf("crash at step %d: %v", k, err)
		}
	}
}

func TestPathErrorMessages(t *testing.T) {
	e := &PathError{Op: "open", URI: "hdfs://nn:8020/a", User: "bob", Err: iofs.ErrPermission}
	if got := e.Error(); got != `hdfs: open hdfs://nn:8020/a: permission denied (HDFS user "bob")` || !errors.Is(e, iofs.ErrPermission) {
		t.Errorf("permission: %q", got)
	}
	e = &PathError{Op: "stat", URI: "hdfs://nn:8020/b", Err: iofs.ErrNotExist}
	if got := e.Error(); got != "hdfs: stat hdfs://nn:8020/b: no such file or directory" || !errors.Is(e, iofs.ErrNotExist) {
		t.Errorf("not exist: %q", got)
	}
}
