package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeTree(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestList(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root,
		"in/b.txt", "in/a.txt", "in/.hidden", "in/_SUCCESS", "in/sub/c.txt", "in/_tmp/d.txt",
		"logs/2024-01/x.log", "logs/2024-02/y.log", "logs/2024-02/z.txt", "single.csv")
	r := func(names ...string) []string {
		for i, n := range names {
			names[i] = filepath.Join(root, n)
		}
		return names
	}
	tests := []struct {
		name    string
		pattern string
		want    []string
		wantErr string
	}{
		{"file", "single.csv", r("single.csv"), ""},
		{"directory recursive, hidden skipped, sorted", "in", r("in/a.txt", "in/b.txt", "in/sub/c.txt"), ""},
		{"glob in file name", "in/*.txt", r("in/a.txt", "in/b.txt"), ""},
		{"glob in directory", "logs/*/*.log", r("logs/2024-01/x.log", "logs/2024-02/y.log"), ""},
		{"glob matching directories expands them", "logs/2024-*", r("logs/2024-01/x.log", "logs/2024-02/y.log", "logs/2024-02/z.txt"), ""},
		{"missing file", "nope.txt", nil, "input ROOT/nope.txt: no such file or directory"},
		{"glob matching nothing", "in/*.parquet", nil, "input ROOT/in/*.parquet: no such file or directory"},
		{"bad pattern", "in/[", nil, "bad pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := List(Default, filepath.Join(root, tt.pattern))
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "ROOT", root)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want it to contain %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}
	if _, err := List(Default, filepath.Join(root, "nope")); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("missing path: %v is not ErrNoMatch", err)
	}
}

// TestListMem expands patterns on the in-memory file system the same way.
func TestListMem(t *testing.T) {
	m := NewStrictMem()
	for _, f := range []string{"/in/b.txt", "/in/a.txt", "/in/.x.inprogress", "/in/_SUCCESS", "/in/sub/c.txt"} {
		must(t, m.MkdirAll(filepath.Dir(f)))
		writeFile(t, m, f, f, false)
	}
	got, err := List(m, "/in")
	if want := []string{"/in/a.txt", "/in/b.txt", "/in/sub/c.txt"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("List(/in) = %v, %v; want %v", got, err, want)
	}
	got, err = List(m, "/in/*.txt")
	if want := []string{"/in/a.txt", "/in/b.txt"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("List(/in/*.txt) = %v, %v; want %v", got, err, want)
	}
}

func TestHidden(t *testing.T) {
	for name, want := range map[string]bool{".part-00000.inprogress": true, "_SUCCESS": true, "part-00000": false, "a_b": false} {
		if Hidden(name) != want {
			t.Errorf("Hidden(%q) = %v", name, !want)
		}
	}
}
