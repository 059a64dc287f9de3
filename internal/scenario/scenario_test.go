package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.txt")
	os.WriteFile(p, []byte("# a story\nadd 1\n----\nsum=1\n\nadd 2\n----\nsum=3\ncarry\n"), 0o644)
	bs, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Cmd != "add 1" || bs[0].Line != 2 || strings.Join(bs[1].Want, "|") != "sum=3|carry" {
		t.Fatalf("parsed %+v", bs)
	}
	os.WriteFile(p, []byte("add 1\nsum=1\n"), 0o644)
	if _, err := Parse(p); err == nil || !strings.Contains(err.Error(), `must be followed by a line "----"`) {
		t.Fatalf("missing separator: %v", err)
	}
}
