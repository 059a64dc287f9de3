package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/task"
)

// TestDeadLettersAreBuffered: skipped records reach the dead-letter file
// through a buffer, not one write each (issue 10, item 13: a run with
// every row bad was 10-20 times slower than one with good rows), and all
// of them are there once the file is closed.
func TestDeadLettersAreBuffered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.txt")
	d, err := createDeadLetters(path)
	if err != nil {
		t.Fatal(err)
	}
	policy := &task.BadRecordPolicy{Skip: true, DeadLetter: d}
	const n = 1000
	for i := 0; i < n; i++ {
		if err := policy.Handle("in.csv:1", []byte("bad,row"), errors.New("not a number")); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("before Close the dead letters should be in the buffer: %v, %v", fi.Size(), err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || strings.Count(string(data), "in.csv:1\tnot a number\tbad,row\n") != n {
		t.Fatalf("dead-letter file holds %d bytes, want %d lines: %v", len(data), n, err)
	}
}
