package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// tree lists every file of fsys below dir as "path=content", and every
// directory as "path/", sorted.
func tree(t *testing.T, fsys FS, dir string) []string {
	t.Helper()
	var out []string
	infos, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	for _, fi := range infos {
		p := strings.TrimSuffix(dir, "/") + "/" + fi.Name()
		if fi.IsDir() {
			out = append(out, p+"/")
			out = append(out, tree(t, fsys, p)...)
			continue
		}
		b, err := ReadFile(fsys, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p+"="+string(b))
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, fsys FS, name, data string, sync bool) {
	t.Helper()
	f, err := fsys.Create(name)
	must(t, err)
	_, err = f.Write([]byte(data))
	must(t, err)
	if sync {
		must(t, f.Sync())
	}
	must(t, f.Close())
}

// TestStrictMemCrash is the strict file system's own contract: what each
// operation makes durable, as seen after Crash.
func TestStrictMemCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, m *MemFS)
		want []string // the tree after Crash
	}{
		{"created file without SyncDir disappears", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "x", true)
		}, nil},
		{"SyncDir keeps the name, not unsynced bytes", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "x", false)
			must(t, m.SyncDir("/"))
		}, []string{"/a="}},
		{"bytes after the last Sync are lost", func(t *testing.T, m *MemFS) {
			f, _ := m.Create("/a")
			f.Write([]byte("synced"))
			must(t, f.Sync())
			f.Write([]byte("+lost"))
			must(t, m.SyncDir("/"))
		}, []string{"/a=synced"}},
		{"Sync of one handle syncs the file", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "one", true)
			must(t, m.SyncDir("/"))
			w, _ := m.Append("/a")
			w.Write([]byte("two"))
			w2, _ := m.Append("/a")
			must(t, w2.Sync())
		}, []string{"/a=onetwo"}},
		{"rename without SyncDir goes back to the old name", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/tmp", "data", true)
			must(t, m.SyncDir("/"))
			must(t, m.Rename("/tmp", "/final"))
		}, []string{"/tmp=data"}},
		{"rename with SyncDir is durable", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/tmp", "data", true)
			must(t, m.Rename("/tmp", "/final"))
			must(t, m.SyncDir("/"))
		}, []string{"/final=data"}},
		{"rename over a file without SyncDir keeps the old file", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/final", "old", true)
			must(t, m.SyncDir("/"))
			writeFile(t, m, "/tmp", "new", true)
			must(t, m.Rename("/tmp", "/final"))
		}, []string{"/final=old"}},
		{"create over a durable file without SyncDir brings the old one back", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "old", true)
			must(t, m.SyncDir("/"))
			writeFile(t, m, "/a", "new", true)
		}, []string{"/a=old"}},
		{"remove without SyncDir is undone", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "x", true)
			must(t, m.SyncDir("/"))
			must(t, m.Remove("/a"))
		}, []string{"/a=x"}},
		{"remove with SyncDir is durable", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "x", true)
			must(t, m.SyncDir("/"))
			must(t, m.Remove("/a"))
			must(t, m.SyncDir("/"))
		}, nil},
		{"RemoveAll without SyncDir brings the durable tree back", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("/d/e"))
			writeFile(t, m, "/d/e/f", "x", true)
			must(t, m.SyncDir("/d/e"))
			writeFile(t, m, "/d/g", "never synced", true)
			must(t, m.RemoveAll("/d"))
		}, []string{"/d/", "/d/e/", "/d/e/f=x"}},
		{"MkdirAll is durable, the files in it are not", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("/a/b/c"))
			writeFile(t, m, "/a/b/c/f", "x", true)
		}, []string{"/a/", "/a/b/", "/a/b/c/"}},
		{"Truncate is durable", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "0123456789", true)
			must(t, m.SyncDir("/"))
			must(t, m.Truncate("/a", 4))
		}, []string{"/a=0123"}},
		{"Truncate makes the bytes before it durable", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/a", "0123456789", false)
			must(t, m.SyncDir("/"))
			must(t, m.Truncate("/a", 6))
		}, []string{"/a=012345"}},
		{"a rename synced on the new side only leaves both names", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("/x"))
			must(t, m.MkdirAll("/y"))
			writeFile(t, m, "/x/f", "data", true)
			must(t, m.SyncDir("/x"))
			must(t, m.Rename("/x/f", "/y/f"))
			must(t, m.SyncDir("/y"))
		}, []string{"/x/", "/x/f=data", "/y/", "/y/f=data"}},
		{"ignored syncs make nothing durable", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "/kept", "k", true)
			must(t, m.SyncDir("/"))
			m.SetIgnoreSyncs(true)
			writeFile(t, m, "/lost", "l", true)
			must(t, m.SyncDir("/"))
			must(t, m.MkdirAll("/dir"))
			must(t, m.Truncate("/kept", 0))
			m.SetIgnoreSyncs(false)
		}, []string{"/kept=k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewStrictMem()
			tc.run(t, m)
			before := m.String()
			m.Crash()
			if got := tree(t, m, "/"); !slices.Equal(got, tc.want) {
				t.Fatalf("after Crash: %q\nwant %q\nbefore the crash:\n%s", got, tc.want, before)
			}
		})
	}
}

func TestStrictMemHandlesFailAfterCrash(t *testing.T) {
	m := NewStrictMem()
	w, _ := m.Create("/a")
	must(t, m.SyncDir("/"))
	r, err := m.Open("/a")
	must(t, err)
	m.Crash()
	if _, err := w.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) || !strings.Contains(err.Error(), "/a") {
		t.Fatalf("Write after Crash: %v, want ErrClosed naming /a", err)
	}
	if err := w.Sync(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Sync after Crash: %v", err)
	}
	if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadAt after Crash: %v", err)
	}
	// The file system itself goes on.
	writeFile(t, m, "/a", "after", true)
	if b, err := ReadFile(m, "/a"); err != nil || string(b) != "after" {
		t.Fatalf("after the crash: %q, %v", b, err)
	}
}

func TestStrictMemString(t *testing.T) {
	m := NewStrictMem()
	must(t, m.MkdirAll("/d"))
	writeFile(t, m, "/d/a", "abc", true)
	f, _ := m.Create("/d/b")
	f.Write([]byte("xy"))
	must(t, m.SyncDir("/d"))
	writeFile(t, m, "/d/c", "", false)
	must(t, m.Remove("/d/a"))
	want := "/d/\n/d/a: removed, not synced\n/d/b: 2 bytes, 0 synced\n/d/c: 0 bytes, 0 synced (entry not synced)\n"
	if got := m.String(); got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
}

// TestContract runs the same operations on the local file system and on the
// strict in-memory one: both must behave as FS says.
func TestContract(t *testing.T) {
	for _, impl := range []struct {
		name string
		fsys FS
		root string
	}{
		{"local", Default, t.TempDir()},
		{"mem", NewStrictMem(), "/root"},
	} {
		t.Run(impl.name, func(t *testing.T) {
			fsys, root := impl.fsys, impl.root
			p := func(name string) string { return root + "/" + name }
			must(t, fsys.MkdirAll(p("d/e")))
			must(t, fsys.MkdirAll(p("d/e"))) // again: no error

			notExist := map[string]error{}
			_, notExist["Open"] = fsys.Open(p("missing"))
			_, notExist["Stat"] = fsys.Stat(p("missing"))
			_, notExist["Append"] = fsys.Append(p("missing"))
			_, notExist["ReadDir"] = fsys.ReadDir(p("missing"))
			_, notExist["Create in a missing directory"] = fsys.Create(p("missing/f"))
			notExist["Remove"] = fsys.Remove(p("missing"))
			notExist["Rename"] = fsys.Rename(p("missing"), p("other"))
			notExist["Truncate"] = fsys.Truncate(p("missing"), 0)
			notExist["SyncDir"] = fsys.SyncDir(p("missing"))
			for op, err := range notExist {
				if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
					t.Errorf("%s of a missing path: %v, want ErrNotExist naming the path", op, err)
				}
			}
			must(t, fsys.RemoveAll(p("missing")))

			writeFile(t, fsys, p("d/b"), "bbb", true)
			writeFile(t, fsys, p("d/a"), "0123456789", true)
			must(t, fsys.SyncDir(p("d")))
			infos, err := fsys.ReadDir(p("d"))
			must(t, err)
			var names []string
			for _, fi := range infos {
				names = append(names, fmt.Sprintf("%s %v %d", fi.Name(), fi.IsDir(), map[bool]int64{true: 0, false: fi.Size()}[fi.IsDir()]))
			}
			if want := []string{"a false 10", "b false 3", "e true 0"}; !slices.Equal(names, want) {
				t.Errorf("ReadDir = %q, want %q", names, want)
			}
			if _, err := fsys.Open(p("d")); err == nil {
				t.Error("Open of a directory succeeded")
			}

			// Reading: Size, ReadAt, Read and Seek.
			r, err := fsys.Open(p("d/a"))
			must(t, err)
			if r.Size() != 10 {
				t.Errorf("Size = %d", r.Size())
			}
			buf := make([]byte, 4)
			if n, err := r.ReadAt(buf, 3); n != 4 || err != nil || string(buf) != "3456" {
				t.Errorf("ReadAt(3) = %d %v %q", n, err, buf)
			}
			if n, err := r.ReadAt(buf, 8); n != 2 || err == nil {
				t.Errorf("ReadAt past the end = %d, %v; want 2 and an error", n, err)
			}
			if off, err := r.Seek(-3, 2); off != 7 || err != nil {
				t.Errorf("Seek(-3, end) = %d, %v", off, err)
			}
			if n, _ := r.Read(buf); n != 3 || string(buf[:n]) != "789" {
				t.Errorf("Read after Seek = %q", buf[:n])
			}
			must(t, r.Close())

			// Append, Truncate, Rename over a file, Remove, RemoveAll.
			w, err := fsys.Append(p("d/b"))
			must(t, err)
			w.Write([]byte("+"))
			must(t, w.Sync())
			must(t, w.Close())
			must(t, fsys.Truncate(p("d/a"), 2))
			must(t, fsys.Rename(p("d/a"), p("d/b")))
			if b, err := ReadFile(fsys, p("d/b")); err != nil || string(b) != "01" {
				t.Errorf("after truncate and rename over: %q, %v", b, err)
			}
			if _, err := fsys.Stat(p("d/a")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("old name after rename: %v", err)
			}
			if err := fsys.Remove(p("d")); err == nil {
				t.Error("Remove of a non-empty directory succeeded")
			}
			must(t, fsys.Remove(p("d/b")))
			must(t, fsys.RemoveAll(p("d")))
			if _, err := fsys.Stat(p("d/e")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after RemoveAll: %v", err)
			}
		})
	}
}
