package outputs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinesSkipsHiddenFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "part-00001"), []byte("b\na\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "part-00000"), []byte("c"), 0o644)
	os.WriteFile(filepath.Join(dir, ".part-00002.inprogress"), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(dir, "_SUCCESS"), nil, 0o644)
	got, err := Lines(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("Lines = %v", got)
	}
	if _, err := Lines(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory gave no error")
	}
}
