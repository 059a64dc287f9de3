package engine_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/blackhole"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// counter is an endless source whose position cannot be redistributed: it
// does not implement task.RescalableConnector.
type counter struct{}

func (counter) Bounded() bool { return false }
func (counter) NewReader(int, int) (task.SourceReader[int64], error) {
	return &counterReader{}, nil
}

type counterReader struct{ next int64 }

func (r *counterReader) Open(ctx *task.Context) error {
	if ctx.Restored != nil {
		r.next, _ = binary.Varint(ctx.Restored)
	}
	return nil
}

func (r *counterReader) Read(b *task.Batch[int64]) (task.ReadStatus, error) {
	b.Append(task.NoTimestamp, r.next)
	r.next++
	return task.ReadStatus{Wait: time.Millisecond}, nil
}

func (r *counterReader) Snapshot() ([]byte, error) { return binary.AppendVarint(nil, r.next), nil }
func (r *counterReader) Close() error              { return nil }

// TestRescaleRefusesStateThatCannotMove: a checkpoint of a source whose
// positions cannot be reassigned restores at its own parallelism, and is
// refused, naming the operator and both parallelisms, at another.
func TestRescaleRefusesStateThatCannotMove(t *testing.T) {
	ck := t.TempDir()
	build := func(p int) *graph.Graph {
		env := stream.NewEnv("counting")
		env.SetParallelism(p)
		stream.FromSource[int64](env, "count", counter{}, nil).SinkTo("discard", blackhole.New[int64]())
		g, err := env.Graph()
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	done := make(chan int64, 1)
	ctx, cancel := context.WithCancel(context.Background())
	x, err := engine.Start(ctx, build(2), engine.Options{CheckpointDir: ck, CheckpointInterval: 20 * time.Millisecond,
		OnCheckpoint: func(id int64, _ time.Duration, _ int64) {
			select {
			case done <- id:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("no checkpoint completed within 20s")
	}
	cancel()
	x.Wait()

	from := filepath.Join(ck, "counting")
	if _, err := engine.Start(context.Background(), build(3), engine.Options{RestoreFrom: from}); err == nil ||
		!strings.Contains(err.Error(), "Source: count") || !strings.Contains(err.Error(), "ran at parallelism 2 there") ||
		!strings.Contains(err.Error(), "cannot be redistributed to parallelism 3") {
		t.Fatalf("restore at parallelism 3: %v, want a refusal naming the operator and both parallelisms", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	x2, err := engine.Start(ctx2, build(2), engine.Options{RestoreFrom: from})
	if err != nil {
		t.Fatalf("restore at the checkpoint's own parallelism: %v", err)
	}
	cancel2()
	x2.Wait()
}
