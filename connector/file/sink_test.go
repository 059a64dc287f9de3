package file

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/internal/scenario"
	"github.com/loom-yarn/loom/task"
)

// TestSinkScenarios runs the scripts in testdata/sink_*.txt. Each line is a
// command; "> text" lines after it are the output it must produce (and a
// command with no "> " lines must produce none). Commands:
//
//	prepare fresh|restore      Sink.Prepare
//	touch NAME TEXT            create a file in the output directory
//	open S P [restore ID]      NewWriter(S, P) and Open, fresh or from snapshot ID
//	write S REC...             write a batch to subtask S's writer
//	snapshot S ID              Snapshot(ID), kept for "open ... restore ID"
//	finish S / close S         Finish / Close
//	rm NAME                    remove a file of the output directory
//	cut NAME N                 truncate a file of the output directory to N bytes
//	ls                         the directory's files with their contents
func TestSinkScenarios(t *testing.T) {
	scenario.Run(t, "testdata/sink_*.txt", func(t *testing.T) func(cmd string) []string {
		dir := filepath.Join(t.TempDir(), "out")
		sink := Sink(dir, Lines)
		writers := map[string]task.SinkWriter[string]{}
		snaps := map[string][]byte{}
		return func(cmd string) []string { return runSinkCommand(t, cmd, dir, sink, writers, snaps) }
	})
}

func runSinkCommand(t *testing.T, cmd, dir string, sink *FileSink[string], writers map[string]task.SinkWriter[string],
	snaps map[string][]byte) []string {
	f := strings.Fields(cmd)
	result := func(err error) []string {
		if err != nil {
			return []string{"error: " + strings.ReplaceAll(err.Error(), dir, "OUT")}
		}
		return nil
	}
	switch f[0] {
	case "prepare":
		return result(sink.Prepare(f[1] == "fresh"))
	case "touch":
		os.MkdirAll(dir, 0o755)
		return result(os.WriteFile(filepath.Join(dir, f[1]), []byte(strings.Join(f[2:], " ")), 0o644))
	case "open":
		var s, p int
		fmt.Sscan(f[1], &s)
		fmt.Sscan(f[2], &p)
		w, err := sink.NewWriter(s, p)
		if err != nil {
			return result(err)
		}
		ctx := &task.Context{Subtask: s, Parallelism: p}
		if len(f) == 5 && f[3] == "restore" {
			ctx.Restored = snaps[f[4]]
			if ctx.Restored == nil {
				t.Fatalf("no snapshot %s", f[4])
			}
		}
		// open S P rescale ID OLDP: restored at another parallelism from
		// the snapshots all OLDP writers took at checkpoint ID.
		if len(f) == 6 && f[3] == "rescale" {
			var oldP int
			fmt.Sscan(f[5], &oldP)
			for i := range oldP {
				ctx.Rescaled = append(ctx.Rescaled, snaps[fmt.Sprintf("%d@%s", i, f[4])])
			}
		}
		writers[f[1]] = w
		return result(w.Open(ctx))
	case "write":
		b := task.NewBatch[string](len(f))
		for _, v := range f[2:] {
			b.Append(task.NoTimestamp, v)
		}
		return result(writers[f[1]].Write(b))
	case "snapshot":
		var id int64
		fmt.Sscan(f[2], &id)
		snap, err := writers[f[1]].Snapshot(id)
		snaps[f[2]], snaps[f[1]+"@"+f[2]] = snap, snap
		return result(err)
	case "finish":
		return result(writers[f[1]].Finish())
	case "close":
		return result(writers[f[1]].Close())
	case "rm":
		return result(os.Remove(filepath.Join(dir, f[1])))
	case "cut":
		var n int64
		fmt.Sscan(f[2], &n)
		return result(os.Truncate(filepath.Join(dir, f[1]), n))
	case "ls":
		entries, err := os.ReadDir(dir)
		if err != nil {
			return result(err)
		}
		var out []string
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out = append(out, fmt.Sprintf("%s: %q", e.Name(), data))
		}
		sort.Strings(out)
		return out
	}
	t.Fatalf("unknown command %q", cmd)
	return nil
}

func TestSinkBufferedWritesReachFileOnlyAtFlush(t *testing.T) {
	dir := t.TempDir()
	w, _ := Sink(dir, func(dst []byte, v int) []byte { return fmt.Appendf(dst, "n=%d", v) }).NewWriter(3, 4)
	if err := w.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	b := task.NewBatch[int](2)
	b.Append(task.NoTimestamp, 7)
	b.Append(task.NoTimestamp, 8)
	w.Write(b)
	inProgress := filepath.Join(dir, ".part-00003.inprogress")
	if fi, err := os.Stat(inProgress); err != nil || fi.Size() != 0 {
		t.Fatalf("before a flush the in-progress file should be empty: %v %v", fi, err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, "part-00003"))
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if strings.Join(got, ",") != "n=7,n=8" {
		t.Fatalf("part file has %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Finish: %v", err)
	}
}
