package task_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// batchSource is a source head that pushes the same batch a given number of
// times, so that a benchmark measures the chain, not a connector.
type batchSource struct {
	out   task.Output[int64]
	batch *task.Batch[int64]
	left  int
}

func (s *batchSource) Step() (task.ReadStatus, error) {
	if s.left == 0 {
		return task.ReadStatus{End: true}, nil
	}
	s.left--
	return task.ReadStatus{}, s.out.Push(s.batch)
}

func (s *batchSource) ProcessBatch(int, any) error     { return nil }
func (s *batchSource) ProcessWatermark(wm int64) error { return s.out.Watermark(wm) }

// discardSink ends a chain and counts what reached it.
type discardSink struct{ n int }

func (s *discardSink) ProcessBatch(_ int, batch any) error {
	s.n += batch.(*task.Batch[int64]).Len()
	return nil
}
func (s *discardSink) ProcessWatermark(int64) error { return nil }

// BenchmarkChain runs a source task whose chain is source -> map -> map ->
// map -> sink, one record type throughout: the per-batch cost of the task
// loop and the chain links (b.N counts records).
func BenchmarkChain(b *testing.B) {
	for _, size := range []int{1, 16, 1024} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			typ := task.TypeOf[int64]()
			const maps = 3
			n := 2 + maps
			metrics := make([]*task.OperatorMetrics, n)
			ctxs := make([]*task.Context, n)
			for i := range metrics {
				metrics[i] = &task.OperatorMetrics{Operator: fmt.Sprintf("op%d", i)}
				ctxs[i] = &task.Context{Operator: metrics[i].Operator, Metrics: metrics[i]}
			}
			ops := make([]task.Operator, n)
			sink := &discardSink{}
			ops[n-1] = sink
			for i := n - 2; i >= 1; i-- {
				out := typ.ChainLink(ops[i+1], 0, metrics[i], metrics[i+1]).(task.Output[int64])
				ops[i] = &operator.Map[int64, int64]{Name: metrics[i].Operator, F: func(v int64) int64 { return v + 1 }, Out: out}
			}
			batch := task.NewBatch[int64](size)
			for i := 0; i < size; i++ {
				batch.Append(task.NoTimestamp, int64(i))
			}
			src := &batchSource{out: typ.ChainLink(ops[1], 0, metrics[0], metrics[1]).(task.Output[int64]), batch: batch,
				left: (b.N + size - 1) / size}
			ops[0] = src
			uids := make([]string, n)
			task := &task.Task{ID: "bench", Name: "bench", Parallel: 1, Ops: ops, UIDs: uids, Contexts: ctxs,
				Metrics: &task.TaskMetrics{Operators: metrics}, Mail: make(chan task.Mail, 1)}
			b.ReportAllocs()
			b.ResetTimer()
			if err := task.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if sink.n < b.N {
				b.Fatalf("sink saw %d records, want %d", sink.n, b.N)
			}
		})
	}
}
