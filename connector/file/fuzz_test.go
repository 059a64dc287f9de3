package file

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/task"
)

// The fuzz targets of the file sources' parsers: every byte a user's input
// file holds reaches one of them. None may panic, hang or allocate without
// bound; each checks what it can against a reference. `make fuzz` runs
// each for a while; crashers found are kept under testdata/fuzz.

// FuzzCSVSplit: the CSV field splitter refuses or splits any line, and a
// line without quotes splits as strings.Split does.
func FuzzCSVSplit(f *testing.F) {
	for _, s := range []string{"a,b,c", `"a,b",c`, `"x""y",z`, `a,"b`, `a"b,c`, `"a"x,b`, "", ",", "é,ü", `""`, "a;b;c"} {
		f.Add(s, byte(','))
	}
	f.Add("a;b", byte(';'))
	f.Add("a\tb", byte('\t'))
	f.Fuzz(func(t *testing.T, line string, comma byte) {
		if comma == '"' || comma == '\n' || comma == '\r' || comma >= 0x80 {
			return
		}
		c := &csvFormat[[]string]{opts: CSVOptions{Comma: rune(comma)}}
		fields, err := c.split([]byte(line))
		if err != nil {
			return
		}
		if !strings.Contains(line, `"`) {
			if want := strings.Split(line, string(comma)); !slices.Equal(fields, want) {
				t.Fatalf("split(%q) = %q, want %q", line, fields, want)
			}
		}
	})
}

// FuzzJSONLine: a JSON line decodes or is a bad record; a record it
// accepts came from valid UTF-8 and is not null.
func FuzzJSONLine(f *testing.F) {
	for _, s := range []string{`{"id":1,"kind":"a"}`, "", "  ", `{"id":"three"}`, "null", ` null `, `{"K":"caf` + "\xe9" + `"}`, `[1,2]`, `{"a":{"b":[null,true,1e999]}}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		v, skip, err := jsonFormat[map[string]any]{}.parse(line, 0)
		if err != nil || skip {
			return
		}
		if v == nil {
			t.Fatalf("%q decoded to a nil record", line)
		}
	})
}

// FuzzLineSplits cuts arbitrary content into splits of a fuzzed size for a
// fuzzed parallelism, with a fuzzed longest line, and reads every subtask:
// together they return each line of the reference split once, the lines
// longer than the maximum skipped as bad records.
func FuzzLineSplits(f *testing.F) {
	f.Add("a\nbb\r\nccc\n", uint8(2), uint8(2), uint16(0))
	f.Add("tail", uint8(1), uint8(1), uint16(0))
	f.Add(utf8BOM+"x\ny", uint8(3), uint8(3), uint16(0))
	f.Add("\n\n\n", uint8(1), uint8(3), uint16(0))
	f.Add(strings.Repeat("long line\n", 20), uint8(7), uint8(2), uint16(5))
	f.Fuzz(func(t *testing.T, content string, splitSize, parallelism uint8, maxLine uint16) {
		if len(content) > 4096 {
			return
		}
		p := int(parallelism%4) + 1
		dir := t.TempDir()
		path := filepath.Join(dir, "in.txt")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := func() *task.Context {
			c := &task.Context{BadRecords: &task.BadRecordPolicy{Skip: true}}
			if maxLine > 0 {
				c.Config = map[string]string{"source.file.max-line-length": "1kb"}
			}
			return c
		}
		src := Text(path).WithSplitSize(int64(splitSize) + 1)
		var got []string
		for s := range p {
			r, err := src.NewReader(s, p)
			if err != nil {
				t.Fatal(err)
			}
			c := ctx()
			if err := r.Open(c); err != nil {
				t.Fatal(err)
			}
			if maxLine > 0 {
				// A maximum below the conf floor, set on the scanner: it
				// lets short inputs reach the too-long path.
				r.(*lineReader[string]).sc.max = int(maxLine%64) + 1
			}
			lines, err := drain(t, r, 3)
			r.Close()
			if err != nil {
				t.Fatalf("subtask %d: %v", s, err)
			}
			got = append(got, lines...)
		}
		var want []string
		for _, l := range splitLines(strings.TrimPrefix(content, utf8BOM)) {
			if maxLine > 0 && len(l) > int(maxLine%64)+1 {
				// A line of max+1 bytes ending in '\r' fits once the
				// '\r' is dropped; the scanner counts raw bytes.
				continue
			}
			want = append(want, l)
		}
		if maxLine > 0 {
			// With a maximum, the raw length decides (a trailing '\r'
			// counts); compare only what both kept.
			got, want = onlyIn(got, want), onlyIn(want, got)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("content %q, split size %d, parallelism %d: read %q, want %q", content, int(splitSize)+1, p, got, want)
		}
	})
}

// onlyIn is a without the elements b lacks altogether.
func onlyIn(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// FuzzCompressedInput feeds arbitrary bytes as a compressed file of each
// codec: reading it ends, with lines or an error naming the file, and
// never holds more than the line maximum.
func FuzzCompressedInput(f *testing.F) {
	for _, ext := range []string{".gz", ".deflate", ".zst", ".snappy", ".sz.snappy"} {
		f.Add(compressed(&testing.T{}, ext, "a\nbb\nccc\n"), byte(len(ext)))
	}
	if data, err := os.ReadFile("testdata/lines.txt.bz2"); err == nil {
		f.Add(data, byte(4))
	}
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 3, 1, 2, 3}, byte(7))
	f.Fuzz(func(t *testing.T, data []byte, which byte) {
		exts := []string{".gz", ".bz2", ".deflate", ".zst", ".snappy"}
		ext := exts[int(which)%len(exts)]
		path := filepath.Join(t.TempDir(), "in"+ext)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Text(path).NewReader(0, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Open(&task.Context{Config: map[string]string{"source.file.max-line-length": "1kb"}, BadRecords: &task.BadRecordPolicy{Skip: true}}); err != nil {
			t.Fatal(err)
		}
		b := task.NewBatch[string](16)
		for total := 0; ; {
			b.Reset()
			st, err := r.Read(b)
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Fatalf("error without the file's name: %v", err)
				}
				return
			}
			for _, l := range b.Values {
				if len(l) > 1024 {
					t.Fatalf("a line of %d bytes passed the 1kb maximum", len(l))
				}
				total += len(l)
			}
			if st.End {
				return
			}
			if total > 64<<20 {
				return // a decompression bomb: bounded per line, not in total
			}
		}
	})
}

// FuzzAvroOCF feeds arbitrary bytes as an Avro container file: the reader
// ends with records or an error naming the file, never a panic.
func FuzzAvroOCF(f *testing.F) {
	for _, codec := range []string{"null", "deflate", "snappy"} {
		var users []user
		for i := range 7 {
			users = append(users, user{ID: int64(i), Name: "u"})
		}
		path := filepath.Join(f.TempDir(), codec+".avro")
		writeAvro(&testing.T{}, path, users, 3, codec)
		data, _ := os.ReadFile(path)
		f.Add(data)
	}
	f.Add([]byte("Obj\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in.avro")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src := Avro(func(native any) (any, error) { return native, nil }, path)
		_, err := readAll[any](t, src, 0, 1, 8, &task.Context{BadRecords: &task.BadRecordPolicy{Skip: true}})
		if err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error without the file's name: %v", err)
		}
	})
}

// FuzzPositionDecode: a line reader's checkpoint position is refused or
// restored, never a panic, for any bytes.
func FuzzPositionDecode(f *testing.F) {
	dir := f.TempDir()
	content := numbered(40)
	path := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.Fatal(err)
	}
	src := Text(path).WithSplitSize(100)
	plan, err := src.plan(2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodePosition(plan, 1, 117))
	f.Add(encodePosition(plan, 3, -1))
	f.Add([]byte{positionVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		for subtask := range 2 {
			r, err := src.NewReader(subtask, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Open(&task.Context{Restored: b, BadRecords: &task.BadRecordPolicy{Skip: true}}); err != nil {
				r.Close()
				continue
			}
			if _, err := drain(t, r, 5); err != nil && !strings.Contains(err.Error(), path) {
				t.Fatalf("error without the file's name: %v", err)
			}
			r.Close()
		}
	})
}

// FuzzOwnerMarker: any bytes in an owner marker parse or are refused.
func FuzzOwnerMarker(f *testing.F) {
	f.Add((&owner{Run: "local ab", Host: "h", PID: 1}).encode())
	f.Add([]byte("run: x\nrenewed: 2024-01-01T00:00:00Z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o, ok := parseOwner(b); ok {
			again, ok2 := parseOwner(o.encode())
			if !ok2 || again.Run != o.Run {
				t.Fatalf("%q parsed to %+v, which does not round-trip: %+v", b, o, again)
			}
		}
	})
}

// FuzzAvroPositionDecode: an Avro reader's checkpoint position is refused
// or restored, never a panic, for any bytes.
func FuzzAvroPositionDecode(f *testing.F) {
	dir := f.TempDir()
	var users []user
	for i := range 10 {
		users = append(users, user{ID: int64(i), Name: "u"})
	}
	for i := range 3 {
		writeAvro(&testing.T{}, filepath.Join(dir, fmt.Sprintf("u%d.avro", i)), users, 3, "null")
	}
	src := Avro(convertUser, dir)
	r, _ := src.NewReader(1, 2)
	if err := r.Open(&task.Context{}); err != nil {
		f.Fatal(err)
	}
	b := task.NewBatch[user](4)
	r.Read(b)
	snap, _ := r.Snapshot()
	r.Close()
	f.Add(snap)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for subtask := range 2 {
			r, err := src.NewReader(subtask, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Open(&task.Context{Restored: b, BadRecords: &task.BadRecordPolicy{Skip: true}}); err != nil {
				r.Close()
				continue
			}
			drain(t, r, 5)
			r.Close()
		}
	})
}
