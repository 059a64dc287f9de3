package vfs

import (
	"errors"
	"strings"
	"testing"
)

type fakeFS struct{ *MemFS }

func TestResolve(t *testing.T) {
	opens := map[string]int{}
	Register("mem", func(authority string) (FS, error) { opens[authority]++; return fakeFS{NewStrictMem()}, nil })
	Register("broken", func(string) (FS, error) { return nil, errors.New("no name node configured") })
	tests := []struct {
		uri        string
		wantFS     string
		wantPath   string
		wantPrefix string
		wantErr    string
	}{
		{"/data/in.txt", "local", "/data/in.txt", "", ""},
		{"rel/in.txt", "local", "rel/in.txt", "", ""},
		{"file:///data/in.txt", "local", "/data/in.txt", "file://", ""},
		{"file:/data/in.txt", "local", "/data/in.txt", "file:", ""},
		{"mem://cluster:8020/a/b", "fake", "/a/b", "mem://cluster:8020", ""},
		{"MEM://cluster", "fake", "/", "MEM://cluster", ""},
		{"mem://cluster:8020/c", "fake", "/c", "mem://cluster:8020", ""},
		{"s3://bucket/x", "", "", "", `no file system registered for scheme "s3"`},
		{"broken://x/y", "", "", "", "open broken file system: no name node configured"},
		{"c:/windows", "local", "c:/windows", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			fsys, p, err := Resolve(tt.uri)
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
			if got := Prefix(tt.uri); got != tt.wantPrefix {
				t.Fatalf("Prefix = %q, want %q", got, tt.wantPrefix)
			}
		})
	}
	if opens["cluster:8020"] != 1 || opens["cluster"] != 1 || len(opens) != 2 {
		t.Fatalf("registered file system opened %v, want once per authority", opens)
	}
}
