package file

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/loom-yarn/loom/task"
)

const userSchema = `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`

type user struct {
	ID   int64
	Name string
}

func convertUser(native any) (user, error) {
	m, ok := native.(map[string]any)
	if !ok {
		return user{}, fmt.Errorf("want a record, got %T", native)
	}
	name := m["name"].(string)
	if name == "" {
		return user{}, errors.New("empty name")
	}
	return user{ID: m["id"].(int64), Name: name}, nil
}

// writeAvro writes users into an OCF file, blockSize records per block.
func writeAvro(t *testing.T, path string, users []user, blockSize int, codec string) {
	t.Helper()
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: userSchema, CompressionName: codec})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(users); i += blockSize {
		var block []any
		for _, u := range users[i:min(i+blockSize, len(users))] {
			block = append(block, map[string]any{"id": u.ID, "name": u.Name})
		}
		if err := w.Append(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func avroInput(t *testing.T) (dir string, want []user) {
	dir = t.TempDir()
	id := int64(0)
	for f, n := range []int{10, 0, 7, 23} {
		var users []user
		for i := 0; i < n; i++ {
			users = append(users, user{ID: id, Name: fmt.Sprintf("user%d", id)})
			id++
		}
		codec := []string{"null", "deflate", "snappy", "null"}[f]
		writeAvro(t, filepath.Join(dir, fmt.Sprintf("users-%d.avro", f)), users, 3, codec)
		want = append(want, users...)
	}
	return dir, want
}

func usersEqualAsSets(a, b []user) bool {
	key := func(us []user) []string {
		var s []string
		for _, u := range us {
			s = append(s, fmt.Sprint(u))
		}
		return s
	}
	return sameMultiset(key(a), key(b))
}

func TestAvroRoundTrip(t *testing.T) {
	dir, want := avroInput(t)
	got, err := readAll[user](t, Avro(convertUser, dir), 0, 1, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for _, p := range []int{2, 3, 5} {
		var all []user
		for s := 0; s < p; s++ {
			part, err := readAll[user](t, Avro(convertUser, dir), s, p, 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, part...)
		}
		if !usersEqualAsSets(all, want) {
			t.Fatalf("p=%d: read %d users, want %d", p, len(all), len(want))
		}
	}
}

func TestAvroRestoreAfterEveryRead(t *testing.T) {
	dir, want := avroInput(t)
	src := Avro(convertUser, dir)
	for _, batchCap := range []int{1, 2, 3, 5} {
		for _, p := range []int{1, 2} {
			var got []user
			for s := 0; s < p; s++ {
				var snap []byte
				for calls, done := 0, false; !done; calls++ {
					if calls > 1000 {
						t.Fatalf("batch %d p %d: reader does not end after %d restores (read %d users)", batchCap, p, calls, len(got))
					}
					r, err := src.NewReader(s, p)
					if err != nil {
						t.Fatal(err)
					}
					if err := r.Open(&task.Context{Restored: snap}); err != nil {
						t.Fatal(err)
					}
					b := task.NewBatch[user](batchCap)
					st, err := r.Read(b)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, b.Values...)
					snap, _ = r.Snapshot()
					r.Close()
					done = st.End
				}
			}
			if !usersEqualAsSets(got, want) {
				t.Fatalf("batch %d p %d: read %d users with restores, want %d", batchCap, p, len(got), len(want))
			}
		}
	}
}

func TestAvroConversionErrorNamesRecordAndBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "u.avro")
	writeAvro(t, path, []user{{1, "a"}, {2, "b"}, {3, "c"}, {4, ""}, {5, "e"}}, 3, "null")
	_, err := readAll[user](t, Avro(convertUser, path), 0, 1, 10, nil)
	var bad *task.BadRecordError
	if !errors.As(err, &bad) || !strings.HasPrefix(bad.Where, path+": record 4 (block at offset ") || !strings.Contains(err.Error(), "empty name") {
		t.Fatalf("err = %v", err)
	}
	var dead bytes.Buffer
	policy := &task.BadRecordPolicy{Skip: true, DeadLetter: &dead}
	got, err := readAll[user](t, Avro(convertUser, path), 0, 1, 10, &task.Context{BadRecords: policy})
	if err != nil || len(got) != 4 || policy.Skipped() != 1 || !strings.Contains(dead.String(), "record 4") {
		t.Fatalf("skip: got %v, %v, dead letters %q", got, err, dead.String())
	}
}

func TestAvroBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	notAvro := writeFile(t, dir, "a.avro", "hello\n")
	_, err := readAll[user](t, Avro(convertUser, notAvro), 0, 1, 10, nil)
	if err == nil || !strings.Contains(err.Error(), "input "+notAvro+": not an Avro container file") {
		t.Fatalf("not avro: err = %v", err)
	}
	cut := filepath.Join(dir, "cut.avro")
	writeAvro(t, cut, []user{{1, "a"}, {2, "b"}, {3, "c"}}, 2, "null")
	data, _ := os.ReadFile(cut)
	os.WriteFile(cut, data[:len(data)-20], 0o644)
	got, err := readAll[user](t, Avro(convertUser, cut), 0, 1, 10, nil)
	if err == nil || !strings.Contains(err.Error(), "input "+cut+": block at offset ") {
		t.Fatalf("truncated file: got %v, err = %v", got, err)
	}
}

func TestAvroCorruptDatumSkipsItsBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "u.avro")
	writeAvro(t, path, []user{{1, "user1"}, {2, "user2"}, {3, "user3"}, {4, "user4"}, {5, "user5"}}, 3, "null")
	data, _ := os.ReadFile(path)
	// The byte before "user2" is its zigzag length (10); make it negative.
	i := bytes.Index(data, []byte("user2"))
	if i < 1 || data[i-1] != 10 {
		t.Fatalf("unexpected layout around user2: % x", data[max(i-2, 0):i+5])
	}
	data[i-1] = 0x7f
	os.WriteFile(path, data, 0o644)

	_, err := readAll[user](t, Avro(convertUser, path), 0, 1, 10, nil)
	var bad *task.BadRecordError
	if !errors.As(err, &bad) || !strings.HasPrefix(bad.Where, path+": record 2 (block at offset ") {
		t.Fatalf("err = %v", err)
	}
	policy := &task.BadRecordPolicy{Skip: true}
	src := Avro(convertUser, path)
	r, _ := src.NewReader(0, 1)
	r.Open(&task.Context{BadRecords: policy})
	b := task.NewBatch[user](1)
	var got []user
	for range 2 { // user1; then user2 is corrupt: user2 and user3 are skipped, user4 is read
		b.Reset()
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Values...)
	}
	if len(got) != 2 || got[1].Name != "user4" || policy.Skipped() != 1 {
		t.Fatalf("after the corrupt datum got %v, skipped %d", got, policy.Skipped())
	}
	// The position after the skip restores to user5.
	snap, _ := r.Snapshot()
	r2, _ := src.NewReader(0, 1)
	if err := r2.Open(&task.Context{Restored: snap}); err != nil {
		t.Fatal(err)
	}
	rest, err := drain(t, r2, 10)
	if err != nil || len(rest) != 1 || rest[0].Name != "user5" {
		t.Fatalf("after restore got %v, %v", rest, err)
	}
}
