package fs

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
			got, err := Local{}.List(filepath.Join(root, tt.pattern))
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
	if _, err := (Local{}).List(filepath.Join(root, "nope")); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("missing path: %v is not ErrNoMatch", err)
	}
}

type fakeFS struct{ Local }

func TestFor(t *testing.T) {
	opens := map[string]int{}
	Register("mem", func(authority string) (FileSystem, error) { opens[authority]++; return fakeFS{}, nil })
	Register("broken", func(string) (FileSystem, error) { return nil, errors.New("no name node configured") })
	tests := []struct {
		uri      string
		wantFS   string
		wantPath string
		wantErr  string
	}{
		{"/data/in.txt", "local", "/data/in.txt", ""},
		{"rel/in.txt", "local", "rel/in.txt", ""},
		{"file:///data/in.txt", "local", "/data/in.txt", ""},
		{"file:/data/in.txt", "local", "/data/in.txt", ""},
		{"mem://cluster:8020/a/b", "fake", "/a/b", ""},
		{"MEM://cluster", "fake", "/", ""},
		{"mem://cluster:8020/c", "fake", "/c", ""},
		{"s3://bucket/x", "", "", `no file system registered for scheme "s3"`},
		{"broken://x/y", "", "", "open broken file system: no name node configured"},
		{"c:/windows", "local", "c:/windows", ""},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			fsys, p, err := For(tt.uri)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.uri) {
					t.Fatalf("err = %v, want %q naming %s", err, tt.wantErr, tt.uri)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			kind := "local"
			if _, ok := fsys.(fakeFS); ok {
				kind = "fake"
			}
			if kind != tt.wantFS || p != tt.wantPath {
				t.Fatalf("got (%s, %q), want (%s, %q)", kind, p, tt.wantFS, tt.wantPath)
			}
		})
	}
	if opens["cluster:8020"] != 1 || opens["cluster"] != 1 || len(opens) != 2 {
		t.Fatalf("registered file system opened %v, want once per authority", opens)
	}
}

func TestHidden(t *testing.T) {
	for name, want := range map[string]bool{".part-00000.inprogress": true, "_SUCCESS": true, "part-00000": false, "a_b": false} {
		if Hidden(name) != want {
			t.Errorf("Hidden(%q) = %v", name, !want)
		}
	}
}
