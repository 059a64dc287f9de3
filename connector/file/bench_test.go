package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/task"
)

// BenchmarkTextRead reads a 32 MiB file of 100-byte lines with batches of
// 1024 records and reports MB/s.
func BenchmarkTextRead(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "in.txt")
	line := strings.Repeat("x", 99) + "\n"
	content := strings.Repeat(line, 32<<20/len(line))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	src := Text(path)
	batch := task.NewBatch[string](1024)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := src.NewReader(0, 1)
		if err != nil {
			b.Fatal(err)
		}
		r.Open(&task.Context{})
		n := 0
		for {
			batch.Reset()
			st, err := r.Read(batch)
			if err != nil {
				b.Fatal(err)
			}
			n += batch.Len()
			if st.End {
				break
			}
		}
		r.Close()
		if n != len(content)/len(line) {
			b.Fatal(fmt.Sprintf("read %d lines", n))
		}
	}
}
