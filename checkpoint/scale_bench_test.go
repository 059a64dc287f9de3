package checkpoint

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/loom-yarn/loom/internal/benchmem"
)

// BenchmarkCoordinatorScale measures the job master's checkpoint bookkeeping
// for a large job, as pure code: 100,000 subtasks (1,000 sources and 99
// vertices of 1,000 subtasks), each acknowledging every checkpoint with ten
// shared files of which one is new, three checkpoints retained. One op is
// one checkpoint: trigger, 100,000 acks, finalize, completion, registering
// its files and releasing the checkpoint retention discards. It reports the
// time per checkpoint and the heap the coordinator and the registry keep;
// the aim is well under a second and a GiB.
func BenchmarkCoordinatorScale(b *testing.B) {
	const (
		vertices    = 100 // the first is the source
		parallelism = 1000
		filesPer    = 10
		retain      = 3
	)
	var tasks, sources []TaskID
	for v := range vertices {
		name := fmt.Sprintf("v%02d", v)
		for s := range parallelism {
			tasks = append(tasks, TaskID{name, s})
			if v == 0 {
				sources = append(sources, TaskID{name, s})
			}
		}
	}
	snaps := make([]TaskSnapshot, len(tasks))
	for i, t := range tasks {
		snaps[i] = TaskSnapshot{Task: t.Task, Subtask: t.Subtask, Parallelism: parallelism, File: taskFileName(t.Task, t.Subtask), Size: 1 << 20}
	}
	interval := 10 * time.Second
	c, err := New(Config{Interval: interval, Timeout: time.Hour, Retain: retain, Tasks: tasks, Sources: sources}, 1)
	if err != nil {
		b.Fatal(err)
	}
	reg := NewSharedRegistry()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Tick(now)

	// files builds what checkpoint id's acks reference: subtask i holds the
	// files of generations id..id+9, so each checkpoint uploads one new file
	// per subtask and the oldest drops out. The strings are new at every
	// checkpoint, as if decoded from the acknowledgements.
	files := func(id int64) []string {
		out := make([]string, 0, len(tasks)*filesPer)
		for _, t := range tasks {
			dir := "shared/" + t.Task + "-" + strconv.Itoa(t.Subtask) + "/"
			for g := id; g < id+filesPer; g++ {
				out = append(out, dir+strconv.FormatInt(g, 10)+".sst")
			}
		}
		return out
	}
	deleted := 0
	// coordTime and regTime split the bookkeeping between the coordinator
	// and the registry.
	var coordTime, regTime time.Duration
	checkpoint := func(shared []string) {
		start := time.Now()
		now = now.Add(interval)
		acts := c.Tick(now)
		if len(acts) != 1 {
			b.Fatalf("tick at %v: %v, want one trigger", now, acts)
		}
		id := acts[0].(Trigger).ID
		var fin []Action
		for i, t := range tasks {
			if acts := c.Ack(id, t, snaps[i]); acts != nil {
				fin = acts
			}
		}
		if len(fin) != 1 {
			b.Fatalf("checkpoint %d: acks returned %v, want one finalize", id, fin)
		}
		done := c.Finalized(id, nil)
		coordTime += time.Since(start)
		start = time.Now()
		for _, a := range done {
			switch a := a.(type) {
			case NotifyComplete:
				if err := reg.Register(a.ID, shared); err != nil {
					b.Fatal(err)
				}
			case Discard:
				deleted += len(reg.Release(a.ID))
			default:
				b.Fatalf("checkpoint %d: unexpected %v", id, a)
			}
		}
		regTime += time.Since(start)
	}
	// Warm up to the steady state: three checkpoints retained.
	for id := int64(1); id <= retain; id++ {
		checkpoint(files(id))
	}
	deleted, coordTime, regTime = 0, 0, 0
	mem := benchmem.Start()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		shared := files(c.NextID())
		b.StartTimer()
		checkpoint(shared)
	}
	b.StopTimer()
	if want := b.N * len(tasks); deleted != want {
		b.Fatalf("deleted %d files in %d checkpoints, want %d (one per subtask per checkpoint)", deleted, b.N, want)
	}
	if want := len(tasks) * (filesPer + retain - 1); reg.Files() != want {
		b.Fatalf("registry holds %d files, want %d", reg.Files(), want)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/checkpoint")
	b.ReportMetric(float64(coordTime)/float64(time.Millisecond)/float64(b.N), "coordinator-ms/checkpoint")
	b.ReportMetric(float64(regTime)/float64(time.Millisecond)/float64(b.N), "registry-ms/checkpoint")
	b.ReportMetric(float64(reg.Files()), "shared-files")
	mem.Report(b, []any{c, reg, snaps})
}
