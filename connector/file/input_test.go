package file

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"

	"github.com/loom-yarn/loom/task"
)

// numbered is "line 1\n" .. "line n\n", the content of testdata/lines.txt.bz2
// for n = 300.
func numbered(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// TestInputTruncatedWhileRead: a file cut while a reader is in it (as
// logrotate's copytruncate does) fails the read naming the file, instead
// of ending early with partial results and exit 0 (issue 10, item 3).
func TestInputTruncatedWhileRead(t *testing.T) {
	dir := t.TempDir()
	content := numbered(100_000) // ~1 MB: more than the scanner's first buffer
	path := writeFile(t, dir, "app.log", content)
	src := Text(path)
	r, err := src.NewReader(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	b := task.NewBatch[string](10)
	if _, err := r.Read(b); err != nil || b.Len() != 10 {
		t.Fatalf("first read: %d records, %v", b.Len(), err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for calls := 0; ; calls++ {
		b.Reset()
		st, err := r.Read(b)
		if err != nil {
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("it had %d bytes when the job listed it", len(content))) {
				t.Fatalf("error = %v, want one naming the file and its listed size", err)
			}
			return
		}
		if st.End || calls > 1e6 {
			t.Fatal("the reader ended without an error after its file was cut")
		}
	}
}

// TestInputRewrittenWhileRead: a file changed in place (same size, new
// modification time) while it is read fails at the end of its split, and
// one changed between listing and reading fails when it is opened.
func TestInputRewrittenWhileRead(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.txt", "aaa\nbbb\n")
	src := Text(path)
	r, _ := src.NewReader(0, 1)
	defer r.Close()
	if err := r.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	b := task.NewBatch[string](1)
	if _, err := r.Read(b); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	_, err := drain(t, r, 10)
	if err == nil || !strings.Contains(err.Error(), "input "+path+": modified at") {
		t.Fatalf("err = %v, want the file named as modified", err)
	}
	// Changed after listing, before the reader opens it.
	src = Text(path)
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}
	earlier := later.Add(-time.Minute)
	if err := os.Chtimes(path, earlier, earlier); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll[string](t, src, 0, 1, 10, nil); err == nil || !strings.Contains(err.Error(), "after the job listed it") {
		t.Fatalf("err = %v", err)
	}
}

// TestInputNotRegularFile: a FIFO or a device as input is refused when the
// input is listed, naming it (issue 10, item 6: /dev/stdin, <(...) and
// /dev/zero read as empty, exit 0).
func TestInputNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	inDir := filepath.Join(dir, "d")
	writeFile(t, inDir, "a.txt", "a\n")
	if err := syscall.Mkfifo(filepath.Join(inDir, "b.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ input, name, want string }{
		{fifo, fifo, "is a named pipe (FIFO)"},
		{inDir, filepath.Join(inDir, "b.fifo"), "is a named pipe (FIFO)"},
		{"/dev/null", "/dev/null", "is a character device"},
	} {
		err := Text(tt.input).Validate()
		if err == nil || !strings.Contains(err.Error(), "input "+tt.name+" "+tt.want) || !strings.Contains(err.Error(), "regular files only") {
			t.Errorf("Text(%s).Validate() = %v, want %s refused: %s", tt.input, err, tt.name, tt.want)
		}
	}
}

// compressed returns content compressed as a file with extension ext holds.
func compressed(t *testing.T, ext, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	switch ext {
	case ".gz":
		w := gzip.NewWriter(&b)
		// Two members, as concatenated .gz files are: both are read.
		half := len(content) / 2
		w.Write([]byte(content[:half]))
		w.Close()
		w = gzip.NewWriter(&b)
		w.Write([]byte(content[half:]))
		w.Close()
	case ".deflate":
		w := zlib.NewWriter(&b)
		w.Write([]byte(content))
		w.Close()
	case ".zst":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
		w.Close()
	case ".snappy": // Hadoop's block format, blocks of 1000 bytes
		for rest := []byte(content); len(rest) > 0; {
			block := rest[:min(1000, len(rest))]
			rest = rest[len(block):]
			b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			for len(block) > 0 {
				chunk := block[:min(300, len(block))]
				block = block[len(chunk):]
				enc := snappy.Encode(nil, chunk)
				b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(enc))))
				b.Write(enc)
			}
		}
	case ".sz.snappy": // the snappy framing format
		w := snappy.NewBufferedWriter(&b)
		w.Write([]byte(content))
		w.Close()
	case ".bz2":
		data, err := os.ReadFile("testdata/lines.txt.bz2")
		if err != nil || content != numbered(300) {
			t.Fatalf("bzip2 test data is testdata/lines.txt.bz2, numbered(300): %v", err)
		}
		return data
	default:
		t.Fatalf("no codec %s", ext)
	}
	return b.Bytes()
}

// TestCompressedInputs: files named .gz, .bz2, .deflate, .zst and .snappy
// are read decompressed (issue 10, item 11: a .gz file was read as binary
// text), as one split each, restorable from any position; a damaged or
// cut one fails naming the file.
func TestCompressedInputs(t *testing.T) {
	content := numbered(300)
	want := splitLines(content)
	for _, ext := range []string{".gz", ".bz2", ".deflate", ".zst", ".snappy", ".sz.snappy"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			data := compressed(t, ext, content)
			path := filepath.Join(dir, "in"+ext)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "plain.txt", "plain\n")
			src := Text(dir).WithSplitSize(64) // small splits: compressed files are not cut
			var got []string
			for sub := range 3 {
				part, err := readAll[string](t, src, sub, 3, 7, nil)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, part...)
			}
			if w := append(append([]string(nil), want...), "plain"); !sameLines(got, w) {
				t.Fatalf("read %d lines, want %d: %q...", len(got), len(w), got[:min(5, len(got))])
			}

			// Restore after every batch: the rest is read exactly once.
			one := Text(path)
			for stop := 1; stop < 40; stop += 7 {
				r, _ := one.NewReader(0, 1)
				if err := r.Open(&task.Context{}); err != nil {
					t.Fatal(err)
				}
				var first []string
				b := task.NewBatch[string](8)
				for range stop {
					b.Reset()
					if _, err := r.Read(b); err != nil {
						t.Fatal(err)
					}
					first = append(first, b.Values...)
				}
				snap, _ := r.Snapshot()
				r.Close()
				rest, err := readAll[string](t, one, 0, 1, 8, &task.Context{Restored: snap})
				if err != nil {
					t.Fatal(err)
				}
				if all := append(first, rest...); !reflect.DeepEqual(all, want) {
					t.Fatalf("restore after %d batches: %d lines, want %d", stop, len(all), len(want))
				}
			}

			// Cut short: an error naming the file, not a silent end.
			cut := filepath.Join(dir, "cut"+ext)
			if err := os.WriteFile(cut, data[:len(data)*2/3], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readAll[string](t, Text(cut), 0, 1, 10, nil)
			if err == nil || !strings.Contains(err.Error(), cut+" is damaged or cut short") {
				t.Fatalf("cut file: err = %v", err)
			}
		})
	}
}

func sameLines(a, b []string) bool {
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sortStrings(x)
	sortStrings(y)
	return reflect.DeepEqual(x, y)
}

// TestCompressedBadRecordNamesLine: a bad row of a compressed CSV file is
// reported with its line, counted in the decompressed data.
func TestCompressedBadRecordNamesLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.csv.gz")
	if err := os.WriteFile(path, compressed(t, ".gz", "a,1\nb,2\nc,x\nd,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readAll[person](t, CSV(parsePerson, CSVOptions{}, path), 0, 1, 10, nil)
	var bad *task.BadRecordError
	if !errors.As(err, &bad) || bad.Where != path+":3" {
		t.Fatalf("err = %v, want a bad record at %s:3", err, path)
	}
}

// TestUnreadableCompressionRefused: a compressed format loom does not
// decode is refused by name instead of read as text.
func TestUnreadableCompressionRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.lz4", "b.xz", "c.zip", "d.lzo"} {
		p := writeFile(t, dir, name, "not text")
		err := Text(p).Validate()
		if err == nil || !strings.Contains(err.Error(), "input "+p+": its name says it is") || !strings.Contains(err.Error(), "decompress it first") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestByteOrderMarkIsNotData: a UTF-8 BOM at the start of a file is not
// part of the first line (issue 10, item 11: it became part of the first
// key), in text, CSV headers and JSON lines.
func TestByteOrderMarkIsNotData(t *testing.T) {
	dir := t.TempDir()
	text := writeFile(t, dir, "t.txt", utf8BOM+"alpha beta\ngamma\n")
	got, err := readAll[string](t, Text(text), 0, 1, 10, nil)
	if err != nil || !reflect.DeepEqual(got, []string{"alpha beta", "gamma"}) {
		t.Fatalf("text: %q, %v", got, err)
	}
	csv := writeFile(t, dir, "h.csv", utf8BOM+"name,age\r\nann,3\r\n")
	var header []string
	src := CSVWithHeader(func(_ string, h []string) (func([]string) (person, error), error) {
		header = h
		return parsePerson, nil
	}, CSVOptions{}, csv)
	rows, err := readAll[person](t, src, 0, 1, 10, nil)
	if err != nil || !reflect.DeepEqual(header, []string{"name", "age"}) || !reflect.DeepEqual(rows, []person{{"ann", 3}}) {
		t.Fatalf("CSV: header %q, rows %v, %v", header, rows, err)
	}
	type rec struct{ K string }
	js := writeFile(t, dir, "j.jsonl", utf8BOM+`{"K":"a"}`+"\n")
	recs, err := readAll[rec](t, JSONLines[rec](js), 0, 1, 10, nil)
	if err != nil || !reflect.DeepEqual(recs, []rec{{"a"}}) {
		t.Fatalf("JSON: %v, %v", recs, err)
	}
}

// TestJSONLinesRefuseNullAndInvalidUTF8: a line "null" and a line with
// invalid UTF-8 are bad records, not an empty record and a string with
// U+FFFD in it (issue 10, item 11).
func TestJSONLinesRefuseNullAndInvalidUTF8(t *testing.T) {
	type rec struct{ K string }
	path := writeFile(t, t.TempDir(), "j.jsonl", `{"K":"a"}`+"\n null \n"+`{"K":"caf`+"\xe9"+`"}`+"\n"+`{"K":"café"}`+"\n")
	policy := &task.BadRecordPolicy{Skip: true}
	var dead bytes.Buffer
	policy.DeadLetter = &dead
	got, err := readAll[rec](t, JSONLines[rec](path), 0, 1, 10, &task.Context{BadRecords: policy})
	if err != nil || !reflect.DeepEqual(got, []rec{{"a"}, {"café"}}) || policy.Skipped() != 2 {
		t.Fatalf("got %v, %v (skipped %d), want the two good records", got, err, policy.Skipped())
	}
	for _, want := range []string{path + ":2\tthe line is JSON null, not a record", path + ":3\tinvalid UTF-8 at byte 10 of the line"} {
		if !strings.Contains(dead.String(), want) {
			t.Errorf("dead letters %q lack %q", dead.String(), want)
		}
	}
}

// TestLineTooLong: a line longer than source.file.max-line-length is a bad
// record naming the file and line, and the scanner's buffer stays bounded
// by the maximum while it skips it (issue 10, item 13: a 50 MB line took
// 800 MB).
func TestLineTooLong(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	path := writeFile(t, t.TempDir(), "l.txt", "short\n"+long+"\nafter\n"+long)
	config := map[string]string{"source.file.max-line-length": "1mb"}
	_, err := readAll[string](t, Text(path), 0, 1, 10, &task.Context{Config: config})
	var bad *task.BadRecordError
	if !errors.As(err, &bad) || bad.Where != path+":2" || !strings.Contains(err.Error(), "longer than the 1mb source.file.max-line-length allows") {
		t.Fatalf("err = %v, want a bad record at %s:2 naming the option", err, path)
	}
	policy := &task.BadRecordPolicy{Skip: true}
	src := Text(path)
	r, _ := src.NewReader(0, 1)
	defer r.Close()
	if err := r.Open(&task.Context{Config: config, BadRecords: policy}); err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, r, 10)
	if err != nil || !reflect.DeepEqual(got, []string{"short", "after"}) || policy.Skipped() != 2 {
		t.Fatalf("skip mode: %q, %v, skipped %d", got, err, policy.Skipped())
	}
	if n := cap(r.(*lineReader[string]).sc.buf); n > 1<<20+2 {
		t.Fatalf("the line buffer grew to %d bytes, over the 1mb maximum", n)
	}
	if _, err := readAll[string](t, Text(path), 0, 1, 10, &task.Context{Config: map[string]string{"source.file.max-line-length": "lots"}}); err == nil ||
		!strings.Contains(err.Error(), `source.file.max-line-length: "lots" is not valid`) {
		t.Fatalf("bad option: %v", err)
	}
}

// TestCSVWithHeaderPerFile: each file's header places its columns, so
// files that order them differently are read right (issue 10, item 11:
// the first file's positions were applied to every file); a file whose
// header lacks a column fails naming it.
func TestCSVWithHeaderPerFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "name,age\nann,3\n")
	writeFile(t, dir, "b.csv", "age,name\n4,bob\n")
	newParse := func(_ string, header []string) (func([]string) (person, error), error) {
		n, a := -1, -1
		for i, h := range header {
			switch h {
			case "name":
				n = i
			case "age":
				a = i
			}
		}
		if n < 0 || a < 0 {
			return nil, fmt.Errorf("header %q lacks name or age", strings.Join(header, ","))
		}
		return func(f []string) (person, error) { return parsePerson([]string{f[n], f[a]}) }, nil
	}
	got, err := readAll[person](t, CSVWithHeader(newParse, CSVOptions{}, dir).WithSplitSize(4), 0, 1, 10, nil)
	if err != nil || !reflect.DeepEqual(got, []person{{"ann", 3}, {"bob", 4}}) {
		t.Fatalf("got %v, %v", got, err)
	}
	c := writeFile(t, dir, "c.csv", "who,age\ncid,5\n")
	_, err = readAll[person](t, CSVWithHeader(newParse, CSVOptions{}, dir), 0, 1, 10, nil)
	if err == nil || !strings.Contains(err.Error(), c+`:1: header "who,age" lacks name or age`) {
		t.Fatalf("err = %v", err)
	}
}

func sortStrings(s []string) { slices.Sort(s) }
