package task_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// numbers is an unbounded source: subtask i of n emits i, i+n, i+2n, ...
type numbers struct{ closed *atomic.Int32 }

func (numbers) Bounded() bool { return false }

func (s numbers) NewReader(subtask, parallelism int) (task.SourceReader[int64], error) {
	return &numbersReader{next: int64(subtask), step: int64(parallelism), closed: s.closed}, nil
}

type numbersReader struct {
	next, step int64
	closed     *atomic.Int32
}

func (r *numbersReader) Open(*task.Context) error { return nil }

func (r *numbersReader) Read(b *task.Batch[int64]) (task.ReadStatus, error) {
	for len(b.Values) < cap(b.Values) {
		b.Append(task.NoTimestamp, r.next)
		r.next += r.step
	}
	return task.ReadStatus{}, nil
}

func (r *numbersReader) Snapshot() ([]byte, error) { return nil, nil }
func (r *numbersReader) Close() error              { r.closed.Add(1); return nil }

// discard is a sink that counts its writers' Close calls.
type discard struct{ closed *atomic.Int32 }

func (s discard) NewWriter(int, int) (task.SinkWriter[int64], error) { return discardWriter(s), nil }

type discardWriter struct{ closed *atomic.Int32 }

func (discardWriter) Open(*task.Context) error             { return nil }
func (discardWriter) Write(*task.Batch[int64]) error       { return nil }
func (discardWriter) Snapshot(int64) ([]byte, error)       { return nil, nil }
func (discardWriter) NotifyCheckpointComplete(int64) error { return nil }
func (discardWriter) Finish() error                        { return nil }
func (w discardWriter) Close() error                       { w.closed.Add(1); return nil }
func explode(i int64) int64 {
	if i == 5000 {
		panic(fmt.Sprintf("boom at %d", i))
	}
	return i
}

// chainTask builds subtask i of n of the chain Source: numbers -> Map:
// explode -> Sink: discard, linked the way the engine links a chain.
func chainTask(i, n int, readersClosed, writersClosed *atomic.Int32) *task.Task {
	typ := task.TypeOf[int64]()
	names := []string{"Source: numbers", "Map: explode", "Sink: discard"}
	metrics := make([]*task.OperatorMetrics, len(names))
	ctxs := make([]*task.Context, len(names))
	t := &task.Task{ID: "chain", Name: strings.Join(names, " -> "), Subtask: i, Parallel: n,
		UIDs: []string{"src", "map", "sink"}, Mail: make(chan task.Mail, 1)}
	for j, name := range names {
		metrics[j] = &task.OperatorMetrics{Operator: name, Subtask: i}
		ctxs[j] = &task.Context{Operator: name, Subtask: i, Parallelism: n, Metrics: metrics[j],
			Timers: t.Timers(), BatchSize: 100}
	}
	sink := &operator.Sink[int64]{Name: "discard", Connector: discard{writersClosed}}
	mapOp := &operator.Map[int64, int64]{Name: "explode", F: explode,
		Out: typ.ChainLink(sink, 0, metrics[1], metrics[2]).(task.Output[int64])}
	src := &operator.Source[int64]{Name: "numbers", Connector: numbers{readersClosed},
		Out: typ.ChainLink(mapOp, 0, metrics[0], metrics[1]).(task.Output[int64])}
	t.Ops = []task.Operator{src, mapOp, sink}
	t.Contexts = ctxs
	t.Metrics = &task.TaskMetrics{Task: t.Name, Subtask: i, Operators: metrics}
	return t
}

// TestPanicInChainFailsTask runs two subtasks of source -> map -> sink the
// way the engine does (the first failure cancels the others). The map panics
// at record 5000, which only subtask 0 sees: its task fails with an error
// naming the panic, the map (not the chain's head), the subtask and the
// panicking frame; subtask 1 ends by cancellation; every reader and writer
// is closed.
func TestPanicInChainFailsTask(t *testing.T) {
	const n = 2
	var readersClosed, writersClosed atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	var once sync.Once
	for i := 0; i < n; i++ {
		task := chainTask(i, n, &readersClosed, &writersClosed)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = task.Run(ctx)
			if errs[i] != nil && !errors.Is(errs[i], context.Canceled) {
				once.Do(cancel)
			}
		}()
	}
	wg.Wait()

	var pe *task.PanicError
	if !errors.As(errs[0], &pe) {
		t.Fatalf("subtask 0: want a *task.PanicError, got %v", errs[0])
	}
	if pe.Operator != "Map: explode" || pe.Subtask != 0 || pe.Parallelism != n || pe.Value != "boom at 5000" {
		t.Errorf("PanicError{Operator: %q, Subtask: %d, Parallelism: %d, Value: %v}", pe.Operator, pe.Subtask, pe.Parallelism, pe.Value)
	}
	msg := errs[0].Error()
	t.Log(msg)
	first, stack, _ := strings.Cut(msg, "\n")
	for _, want := range []string{"boom at 5000", "Map: explode", "subtask 1 of 2"} {
		if !strings.Contains(first, want) {
			t.Errorf("first line %q lacks %q", first, want)
		}
	}
	for _, want := range []string{"goroutine ", "task_test.explode(", "operator.(*Map[...]).ProcessBatch("} {
		if !strings.Contains(stack, want) {
			t.Errorf("stack lacks %q:\n%s", want, stack)
		}
	}
	// Trimmed: neither the recovery machinery nor the task loop below the
	// chain link that called the map.
	for _, unwanted := range []string{"runtime/debug.Stack", "panic(", "(*Task).Run("} {
		if strings.Contains(stack, unwanted) {
			t.Errorf("stack holds %q:\n%s", unwanted, stack)
		}
	}
	if !errors.Is(errs[1], context.Canceled) {
		t.Errorf("subtask 1: want context.Canceled, got %v", errs[1])
	}
	if r, w := readersClosed.Load(), writersClosed.Load(); r != n || w != n {
		t.Errorf("closed %d readers and %d writers, want %d of each", r, w, n)
	}
}
