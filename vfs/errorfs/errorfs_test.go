package errorfs

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/vfs"
)

// publish is a small operation to enumerate: write a file under a
// temporary name and rename it into place.
func publish(fsys vfs.FS) error {
	if err := fsys.MkdirAll("/d"); err != nil {
		return err
	}
	f, err := fsys.Create("/d/.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte("data")); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename("/d/.tmp", "/d/final"); err != nil {
		return err
	}
	return fsys.SyncDir("/d")
}

func TestStepsAreCounted(t *testing.T) {
	f := Wrap(vfs.NewStrictMem())
	if err := publish(f); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range f.Log() {
		got = append(got, fmt.Sprint(op.Step, " ", op))
	}
	want := "1 mkdir /d|2 create /d/.tmp|3 write /d/.tmp|4 sync /d/.tmp|5 close /d/.tmp|6 rename /d/.tmp -> /d/final|7 syncdir /d"
	if strings.Join(got, "|") != want || f.Steps() != 7 || f.Reached() {
		t.Fatalf("log %q (steps %d, reached %v), want %q", got, f.Steps(), f.Reached(), want)
	}
}

func TestFailAtEveryStep(t *testing.T) {
	for k := 1; ; k++ {
		mem := vfs.NewStrictMem()
		f := Wrap(mem)
		f.FailAt(k)
		err := publish(f)
		if !f.Reached() {
			if err != nil {
				t.Fatalf("step %d never reached, yet: %v", k, err)
			}
			if k != 8 {
				t.Fatalf("publish completed before step %d; want 7 steps", k)
			}
			return
		}
		var e *Error
		if !errors.Is(err, ErrInjected) || !errors.As(err, &e) || e.Op.Step != k || e.CrashedAt != 0 {
			t.Fatalf("step %d: error %v, want the injected failure of step %d", k, err, k)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("injected failure at step %d", k)) {
			t.Fatalf("step %d: message %q", k, err)
		}
		// Only that step failed: the file system still works.
		if err := publish(f); err != nil {
			t.Fatalf("after the failure at step %d: %v", k, err)
		}
	}
}

func TestCrashAtEveryStep(t *testing.T) {
	for k := 1; ; k++ {
		mem := vfs.NewStrictMem()
		f := Wrap(mem)
		f.CrashAt(k, mem.Crash)
		err := publish(f)
		if !f.Reached() {
			if err != nil || k != 8 {
				t.Fatalf("step %d not reached: %v", k, err)
			}
			return
		}
		if !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), "simulated crash") {
			t.Fatalf("step %d: error %v, want the simulated crash", k, err)
		}
		// Everything after the crash fails, reads included.
		if _, err := f.Stat("/"); !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), "gone since the simulated crash at step") {
			t.Fatalf("Stat after the crash: %v", err)
		}
		if err := f.MkdirAll("/x"); !errors.Is(err, ErrInjected) {
			t.Fatalf("MkdirAll after the crash: %v", err)
		}
		if f.Steps() != k {
			t.Fatalf("steps after the crash were counted: %d", f.Steps())
		}
		// The durable state is all or nothing: the final file has its data,
		// or it is not there.
		b, err := vfs.ReadFile(mem, "/d/final")
		if err == nil && string(b) != "data" {
			t.Fatalf("crash at step %d: /d/final holds %q", k, b)
		}
		if err == nil && k <= 7 {
			t.Fatalf("crash at step %d: /d/final exists before its SyncDir", k)
		}
	}
}
