package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCovers: what a job writes (an output directory, a dead-letter file)
// is caught when it is, or lies inside, what it reads (issue 10, item 4:
// --dead-letter naming the input truncated it before it was read).
func TestCovers(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	writeFile(t, in, "a.csv", "x\n")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, filepath.Join(in, "a.csv"))
	tests := []struct {
		pattern, p string
		want       bool
	}{
		{in + "/a.csv", in + "/a.csv", true},
		{in, in + "/a.csv", true},
		{in, in + "/new/dead.txt", true},
		{in, in, true},
		{in + "/*.csv", in + "/a.csv", true},
		{in + "/*.csv", in + "/b.csv", true}, // not there yet: a restore would list it
		{in + "/*.csv", in + "/b.txt", false},
		{dir + "/i?/a.csv", in + "/a.csv", true},
		{in + "/a.csv", in, false}, // the directory holding an input is not the input
		{in, dir + "/out", false},
		{in, dir + "/inside", false}, // a name with the input's as a prefix
		{link, in + "/a.csv", true},  // through a symbolic link
		{in, link + "/x", true},
		{rel, in + "/a.csv", true}, // relative and absolute
		{"file://" + in, in + "/a.csv", true},
		{"hdfs://nn:8020/data/in", "hdfs://nn:8020/data/in/dead.txt", true},
		{"hdfs://nn:8020/data/in", "hdfs://other:8020/data/in/dead.txt", false},
		{"hdfs://nn:8020/data/in", "/data/in/dead.txt", false},
	}
	for _, tt := range tests {
		if got := Covers(tt.pattern, tt.p); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.pattern, tt.p, got, tt.want)
		}
	}
}

func TestCheckOutputOutsideInputs(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ output, input, want string }{
		{dir + "/out", dir + "/in", ""},
		{dir + "/in", dir + "/in", "--output " + dir + "/in is the same path as --input " + dir + "/in"},
		{dir + "/in/out", dir + "/in", "--output " + dir + "/in/out lies inside --input " + dir + "/in"},
		{dir + "/in", dir + "/in/part-*", "--input " + dir + "/in/part-* lies inside --output " + dir + "/in"},
	} {
		err := CheckOutputOutsideInputs("--output", tt.output, "--input", tt.input)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("output %s, input %s: %v, want %q", tt.output, tt.input, err, tt.want)
		}
	}
}
