package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/stream"
)

func bounded(i int64, _ *datagen.Rand) string   { return fmt.Sprintf("b%d", i) }
func unbounded(i int64, _ *datagen.Rand) string { return fmt.Sprintf("u%d", i) }

// committed reads the visible part files of dir: lines by their text.
func committed(t *testing.T, dir string) map[string]int {
	t.Helper()
	lines := map[string]int{}
	parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				lines[l]++
			}
		}
	}
	return lines
}

func countPrefix(lines map[string]int, prefix string) (distinct, total int) {
	for l, n := range lines {
		if strings.HasPrefix(l, prefix) {
			distinct++
			total += n
		}
	}
	return
}

// TestCheckpointsAfterABoundedSourceFinished: a job mixing a bounded and an
// unbounded source keeps checkpointing — and its file sink committing —
// after the bounded source finished (Flink's FLIP-147); the checkpoint
// lists the finished subtasks, and a restore restarts them finished, so
// the bounded records are committed exactly once.
func TestCheckpointsAfterABoundedSourceFinished(t *testing.T) {
	const nBounded = 200
	dir := t.TempDir()
	out, ck := filepath.Join(dir, "out"), filepath.Join(dir, "ck")
	start := func(ctx context.Context, restore string, completed *atomic.Int64) *engine.Execution {
		env := stream.NewEnv("mixed")
		env.SetParallelism(2)
		b := stream.FromSource(env, "bounded", datagen.New(bounded, datagen.Options{Count: nBounded}), nil).UID("bounded")
		u := stream.FromSource(env, "unbounded", datagen.New(unbounded, datagen.Options{Rate: 2000}), nil).UID("unbounded")
		stream.Union(b, u).SinkTo("out", file.Sink(out, file.Lines)).UID("out")
		g, err := env.Graph()
		if err != nil {
			t.Fatal(err)
		}
		x, err := engine.Start(ctx, g, engine.Options{BatchSize: 16, CheckpointDir: ck, CheckpointInterval: 30 * time.Millisecond,
			RestoreFrom: restore, Config: map[string]string{"sink.rolling-policy.rollover-interval": "50ms"},
			OnCheckpoint: func(int64, time.Duration, int64) { completed.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	// until waits for cond, polling the output.
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 30s: %s (committed %v)", what, len(committed(t, out)))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var completed atomic.Int64
	x := start(ctx, "", &completed)
	until("every bounded record committed", func() bool { d, _ := countPrefix(committed(t, out), "b"); return d == nBounded })
	n := completed.Load()
	_, u0 := countPrefix(committed(t, out), "u")
	until("more checkpoints and commits after the bounded source finished", func() bool {
		_, u := countPrefix(committed(t, out), "u")
		return completed.Load() >= n+3 && u > u0
	})
	cancel() // a crash: nothing is finished or published
	x.Wait()

	md, _, err := checkpoint.Load(filepath.Join(ck, "mixed"))
	if err != nil {
		t.Fatal(err)
	}
	var fin []string
	for _, f := range md.Finished {
		fin = append(fin, f.String())
	}
	if len(fin) != 2 || !strings.HasPrefix(fin[0], "bounded") {
		t.Fatalf("checkpoint %d lists finished %v, want the bounded source's 2 subtasks", md.ID, fin)
	}

	// Restore: the bounded source restarts finished, the unbounded one
	// resumes; nothing is committed twice.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	completed.Store(0)
	_, before := countPrefix(committed(t, out), "u")
	x = start(ctx, filepath.Join(ck, "mixed"), &completed)
	until("the restored run commits", func() bool { _, u := countPrefix(committed(t, out), "u"); return u > before })
	cancel()
	x.Wait()
	lines := committed(t, out)
	for l, c := range lines {
		if c != 1 {
			t.Errorf("%s committed %d times", l, c)
		}
	}
	if d, _ := countPrefix(lines, "b"); d != nBounded {
		t.Errorf("%d distinct bounded records committed, want %d", d, nBounded)
	}
	t.Logf("checkpoint %d had %v finished; %d unbounded records committed in all", md.ID, fin, len(lines)-nBounded)
}
