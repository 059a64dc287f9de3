package file

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/task"
)

type person struct {
	Name string
	Age  int
}

func parsePerson(f []string) (person, error) {
	age, err := strconv.Atoi(f[1])
	if err != nil {
		return person{}, fmt.Errorf("age: %w", err)
	}
	return person{Name: f[0], Age: age}, nil
}

func TestCSVSplitFields(t *testing.T) {
	tests := []struct {
		line    string
		comma   rune
		want    []string
		wantErr string
	}{
		{"a,b,c", ',', []string{"a", "b", "c"}, ""},
		{"a,,c,", ',', []string{"a", "", "c", ""}, ""},
		{"", ',', []string{""}, ""},
		{`"a,b",c`, ',', []string{"a,b", "c"}, ""},
		{`"say ""hi""",x`, ',', []string{`say "hi"`, "x"}, ""},
		{`""`, ',', []string{""}, ""},
		{"a;b", ';', []string{"a", "b"}, ""},
		{"é\tü", '\t', []string{"é", "ü"}, ""},
		{`a,"unterminated`, ',', nil, "field 2: quoted field is not closed"},
		{`a,b"c`, ',', nil, "field 2: bare quote in unquoted field"},
		{`"a"b,c`, ',', nil, `field 1: unexpected 'b' after closing quote`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c := &csvFormat[person]{opts: CSVOptions{Comma: tt.comma}}
			got, err := c.split([]byte(tt.line))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

const peopleCSV = "name,age\n" + // line 1
	"ann,31\n" + // 2
	"bob,x\n" + // 3: bad age
	"\n" + // 4: skipped
	"\"carl, jr\",40\n" + // 5
	"dan,1,extra\n" + // 6: wrong field count
	"eve,\"2\n" + // 7: unclosed quote
	"fay,52\r\n" // 8

func TestCSVBadRecordsFail(t *testing.T) {
	path := writeFile(t, t.TempDir(), "people.csv", peopleCSV)
	// With split sizes that put the bad line (offset 16) in a split not at
	// offset 0, the line number must still be the line in the file.
	for _, size := range []int64{1, 7, 20, 1000} {
		src := CSV(parsePerson, CSVOptions{SkipHeader: true}, path).WithSplitSize(size)
		_, firstErr := readAll[person](t, src, 0, 1, 4, nil)
		var bad *task.BadRecordError
		if !errors.As(firstErr, &bad) {
			t.Fatalf("split size %d: err = %v, want a BadRecordError", size, firstErr)
		}
		if want := path + ":3"; bad.Where != want || !strings.Contains(bad.Error(), "age: strconv.Atoi") {
			t.Fatalf("split size %d: error %q, want at %s", size, bad.Error(), want)
		}
	}
}

func TestCSVSkipPolicyCountsAndWritesDeadLetters(t *testing.T) {
	path := writeFile(t, t.TempDir(), "people.csv", peopleCSV)
	for _, size := range []int64{3, 10, 1 << 20} {
		for _, p := range []int{1, 2, 3} {
			var dead bytes.Buffer
			policy := &task.BadRecordPolicy{Skip: true, DeadLetter: &dead}
			src := CSV(parsePerson, CSVOptions{SkipHeader: true}, path).WithSplitSize(size)
			var got []person
			for s := 0; s < p; s++ {
				out, err := readAll[person](t, src, s, p, 2, &task.Context{BadRecords: policy, Metrics: &task.OperatorMetrics{}})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out...)
			}
			want := []person{{"ann", 31}, {"carl, jr", 40}, {"fay", 52}}
			if len(got) != len(want) {
				t.Fatalf("size %d p %d: got %v, want %v", size, p, got, want)
			}
			if policy.Skipped() != 3 {
				t.Fatalf("size %d p %d: skipped %d, want 3", size, p, policy.Skipped())
			}
			lines := strings.Split(strings.TrimSuffix(dead.String(), "\n"), "\n")
			var wheres []string
			for _, l := range lines {
				wheres = append(wheres, strings.SplitN(l, "\t", 2)[0])
			}
			wantWheres := []string{path + ":3", path + ":6", path + ":7"}
			if !sameMultiset(wheres, wantWheres) {
				t.Fatalf("size %d p %d: dead letters at %v, want %v\n%s", size, p, wheres, wantWheres, dead.String())
			}
			if !strings.Contains(dead.String(), path+":6\trow has 3 fields, want 2\tdan,1,extra\n") {
				t.Fatalf("dead letter for line 6 is missing or malformed:\n%s", dead.String())
			}
		}
	}
}

// TestCSVFieldsWithoutHeader: without a header, every row must have as
// many fields as the file's first row (issue 10, item 11: "bob,1,000"
// summed 1 instead of failing), in every split; Fields: -1 accepts any.
func TestCSVFieldsWithoutHeader(t *testing.T) {
	path := writeFile(t, t.TempDir(), "x.csv", "\na;1\nb;2;3\n"+strings.Repeat("c;4\n", 100))
	keep := func(f []string) ([]string, error) { return append([]string(nil), f...), nil }
	for _, splitSize := range []int64{DefaultSplitSize, 16} {
		src := CSV(keep, CSVOptions{Comma: ';'}, path).WithSplitSize(splitSize)
		_, err := readAll[[]string](t, src, 0, 1, 10, nil)
		if err == nil || !strings.Contains(err.Error(), path+":3") || !strings.Contains(err.Error(), "row has 3 fields, want 2") {
			t.Fatalf("split size %d: no header: err = %v, want row 3 refused", splitSize, err)
		}
	}
	got, err := readAll[[]string](t, CSV(keep, CSVOptions{Comma: ';', Fields: -1}, path), 0, 1, 10, nil)
	if err != nil || len(got) != 102 || len(got[1]) != 3 {
		t.Fatalf("Fields: -1 (any count): got %d rows, %v", len(got), err)
	}
	src := CSV(func(f []string) ([]string, error) { return nil, nil }, CSVOptions{Comma: ';', Fields: 2}, path)
	_, err = readAll[[]string](t, src, 0, 1, 10, nil)
	if err == nil || !strings.Contains(err.Error(), path+":3") || !strings.Contains(err.Error(), "row has 3 fields, want 2") {
		t.Fatalf("Fields: 2 err = %v", err)
	}
}

func TestJSONLines(t *testing.T) {
	type event struct {
		ID   int    `json:"id"`
		Kind string `json:"kind"`
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "e.jsonl", "{\"id\":1,\"kind\":\"a\"}\n\n  \n{\"id\":2,\"kind\":\"b\"}\r\n{\"id\":\"three\"}\n{\"id\":4}")
	src := JSONLines[event](path).WithSplitSize(5)
	_, err := readAll[event](t, src, 0, 1, 10, nil)
	var bad *task.BadRecordError
	if !errors.As(err, &bad) || bad.Where != path+":5" {
		t.Fatalf("err = %v, want a bad record at %s:5", err, path)
	}
	policy := &task.BadRecordPolicy{Skip: true}
	got, err := readAll[event](t, JSONLines[event](path), 0, 1, 10, &task.Context{BadRecords: policy})
	if err != nil {
		t.Fatal(err)
	}
	want := []event{{1, "a"}, {2, "b"}, {4, ""}}
	if !reflect.DeepEqual(got, want) || policy.Skipped() != 1 {
		t.Fatalf("got %v (skipped %d), want %v", got, policy.Skipped(), want)
	}
}

func TestMissingInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.txt", "x\n")
	missing := filepath.Join(dir, "y.txt")
	src := Text(filepath.Join(dir, "a.txt"), missing)
	err := src.Validate()
	if err == nil || err.Error() != "input "+missing+": no such file or directory" {
		t.Fatalf("Validate() = %v", err)
	}
	if _, err := src.NewReader(0, 1); err == nil {
		t.Fatal("NewReader on a missing input succeeded")
	}
	if err := Text().Validate(); err == nil {
		t.Fatal("no paths validated")
	}
}

func TestFilesAreListedOnceSortedAndDeduplicated(t *testing.T) {
	dir := t.TempDir()
	b := writeFile(t, dir, "b.txt", "b\n")
	a := writeFile(t, dir, "a.txt", "a\n")
	files, err := Text(b, dir, filepath.Join(dir, "*.txt")).Files()
	if err != nil || !reflect.DeepEqual(files, []string{a, b}) {
		t.Fatalf("Files() = %v, %v", files, err)
	}
}

func TestInputChangedSinceListing(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.txt", "a\n")
	src := Text(path)
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.txt", "a\nb\n")
	_, err := readAll[string](t, src, 0, 1, 10, nil)
	if err == nil || !strings.Contains(err.Error(), "size changed from 2 to 4 bytes") {
		t.Fatalf("err = %v", err)
	}
}

func TestRestoreWithDifferentPlanFails(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.txt", strings.Repeat("line\n", 100))
	r, _ := Text(path).WithSplitSize(50).NewReader(0, 1)
	r.Open(&task.Context{})
	snap, _ := r.Snapshot()
	r2, _ := Text(path).WithSplitSize(100).NewReader(0, 1)
	err := r2.Open(&task.Context{Restored: snap})
	if err == nil || !strings.Contains(err.Error(), "restore needs the same input files and parallelism") {
		t.Fatalf("err = %v", err)
	}
	if err := r2.Open(&task.Context{Restored: []byte{9, 9}}); !errors.Is(err, errBadPosition) {
		t.Fatalf("corrupt position: err = %v", err)
	}
}

func TestFileURIsAndErrorNames(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.csv", "x,1\ny,z\n")
	src := CSV(parsePerson, CSVOptions{}, "file://"+dir)
	files, err := src.Files()
	if err != nil || len(files) != 1 || files[0] != "file://"+path {
		t.Fatalf("Files() = %v, %v", files, err)
	}
	_, err = readAll[person](t, src, 0, 1, 10, nil)
	var bad *task.BadRecordError
	if !errors.As(err, &bad) || bad.Where != "file://"+path+":2" {
		t.Fatalf("err = %v, want a bad record at file://%s:2", err, path)
	}
	if err := Text("nosuch://x/y").Validate(); err == nil || !strings.Contains(err.Error(), `scheme "nosuch"`) {
		t.Fatalf("unknown scheme: %v", err)
	}
}
