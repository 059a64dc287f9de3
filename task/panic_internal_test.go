package task

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/network"
)

// panicky forwards strings and panics in the call named by at.
type panicky struct {
	at  string
	out Output[string]
	log *[]string
}

func (p *panicky) boom(call string) {
	if p.at == call {
		panic(fmt.Sprintf("boom in %s", call))
	}
}

func (p *panicky) Open(ctx *Context) error {
	p.boom("Open")
	if p.at == "timer" {
		ctx.Timers.At(ctx.Timers.Now(), func(time.Time) error { p.boom("timer"); return nil })
	}
	return nil
}

func (p *panicky) ProcessBatch(_ int, batch any) error {
	p.boom("ProcessBatch")
	return p.out.Push(batch.(*Batch[string]))
}

func (p *panicky) ProcessWatermark(wm int64) error {
	p.boom("ProcessWatermark")
	return p.out.Watermark(wm)
}

func (p *panicky) Finish() error { p.boom("Finish"); return nil }

func (p *panicky) Close() error {
	*p.log = append(*p.log, "close mid")
	p.boom("Close")
	return nil
}

func (p *panicky) SnapshotState(int64) ([]byte, error) { p.boom("SnapshotState"); return nil, nil }

func (p *panicky) NotifyCheckpointComplete(int64) error {
	p.boom("NotifyCheckpointComplete")
	return nil
}

// passOn is a plain operator that forwards everything and logs its Close.
type passOn struct {
	name string
	out  Output[string] // nil: end of the chain
	log  *[]string
}

func (o *passOn) ProcessBatch(_ int, batch any) error {
	if o.out == nil {
		return nil
	}
	return o.out.Push(batch.(*Batch[string]))
}

func (o *passOn) ProcessWatermark(wm int64) error {
	if o.out == nil {
		return nil
	}
	return o.out.Watermark(wm)
}

func (o *passOn) Close() error {
	*o.log = append(*o.log, "close "+o.name)
	return nil
}

// panickyPartitioner stands for a KeyBy key selector that panics.
type panickyPartitioner struct{}

func (panickyPartitioner) Route(v *string, n int) int { panic("boom in key selector of " + *v) }

// decliner is a Checkpointer that, like the engine's, declines a checkpoint
// whose snapshot failed and lets the job go on.
type decliner struct{ declined *[]string }

func (d decliner) Snapshot(id int64, _ string, _ int, write func(StateWriter) error) error {
	if err := write(discardState{}); err != nil {
		*d.declined = append(*d.declined, err.Error())
	}
	return nil
}

// TestPanicAtEveryOperatorCall makes the middle operator of a chain
// head -> mid -> tail panic in each call the task makes to it, and checks
// that the task fails with a PanicError naming mid and the call, holding
// mid's frame, and that every opened operator is still closed.
func TestPanicAtEveryOperatorCall(t *testing.T) {
	allClosed := "close tail close mid close head"
	tests := []struct {
		at     string // the call of mid that panics
		in     string // PanicError.In
		frame  string // in the stack
		closed string // the Close calls, in order
	}{
		{at: "ProcessBatch", frame: "(*panicky).ProcessBatch(", closed: allClosed},
		{at: "ProcessWatermark", frame: "(*panicky).ProcessWatermark(", closed: allClosed},
		{at: "Open", in: "Open", frame: "(*panicky).Open(", closed: "close tail"}, // tail opened first (tail first) and is closed; head never opened
		{at: "Finish", in: "Finish", frame: "(*panicky).Finish(", closed: allClosed},
		{at: "Close", in: "Close", frame: "(*panicky).Close(", closed: allClosed},
		{at: "SnapshotState", in: "SnapshotState", frame: "(*panicky).SnapshotState(", closed: allClosed},
		{at: "NotifyCheckpointComplete", in: "NotifyCheckpointComplete", frame: "(*panicky).NotifyCheckpointComplete(", closed: allClosed},
		{at: "timer", in: "a processing-time timer", frame: "(*panicky).Open.func1(", closed: allClosed},
		{at: "writer", in: writerCall, frame: "panickyPartitioner.Route(", closed: allClosed},
	}
	for _, tc := range tests {
		t.Run(tc.at, func(t *testing.T) {
			var log, declined []string
			g := network.NewGate(1, 16)
			for _, s := range []string{"a", "wm5", "b1", "eoi"} {
				if err := g.Channel(0).Send(context.Background(), el(s), nil); err != nil {
					t.Fatal(err)
				}
			}
			typ := TypeOf[string]()
			metrics := []*OperatorMetrics{{Operator: "head"}, {Operator: "mid"}, {Operator: "tail"}}
			tail := &passOn{name: "tail", log: &log}
			mid := &panicky{at: tc.at, log: &log}
			var writers []ChannelWriter
			if tc.at == "writer" {
				down := network.NewGate(2, 16)
				w := NewWriter[string](context.Background(), []network.Sender{down.Channel(0), down.Channel(1)},
					panickyPartitioner{}, 4, nil, metrics[1])
				mid.out, writers = w, []ChannelWriter{w}
			} else {
				mid.out = typ.ChainLink(tail, 0, metrics[1], metrics[2]).(Output[string])
			}
			head := &passOn{name: "head", out: typ.ChainLink(mid, 0, metrics[0], metrics[1]).(Output[string]), log: &log}
			mail := make(chan Mail, 1)
			if tc.at == "NotifyCheckpointComplete" {
				mail <- Mail{Kind: MailCheckpointComplete, Checkpoint: 1}
			}
			task := &Task{ID: "t", Name: "head -> mid -> tail", Subtask: 1, Parallel: 3,
				Ops: []Operator{head, mid, tail}, UIDs: []string{"h", "m", "t"}, Gate: g, InputOf: []int{0},
				Writers: writers, Checkpointer: decliner{&declined},
				Metrics: &TaskMetrics{Operators: metrics}, Mail: mail}
			for _, m := range metrics {
				task.Contexts = append(task.Contexts, &Context{Operator: m.Operator, Timers: task.Timers(), Metrics: m})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := task.Run(ctx)

			var pe *PanicError
			if !errors.As(err, &pe) {
				t.Fatalf("want a *PanicError, got %v", err)
			}
			if pe.Operator != "mid" || pe.In != tc.in || pe.Subtask != 1 || pe.Parallelism != 3 {
				t.Errorf("PanicError{Operator: %q, In: %q, Subtask: %d, Parallelism: %d}", pe.Operator, pe.In, pe.Subtask, pe.Parallelism)
			}
			first, stack, _ := strings.Cut(err.Error(), "\n")
			wantFirst := "operator mid (subtask 2 of 3) panicked"
			if tc.in != "" {
				wantFirst += " in " + tc.in
			}
			if !strings.Contains(first, wantFirst+": boom in ") {
				t.Errorf("first line %q, want it to hold %q and the panic value", first, wantFirst)
			}
			if !strings.HasPrefix(stack, "goroutine ") || !strings.Contains(stack, tc.frame) {
				t.Errorf("stack lacks %q:\n%s", tc.frame, stack)
			}
			if got := strings.Join(log, " "); got != tc.closed {
				t.Errorf("closed: got %q, want %q", got, tc.closed)
			}
			if tc.at == "SnapshotState" && (len(declined) != 1 || !strings.Contains(declined[0], "boom in SnapshotState")) {
				t.Errorf("the checkpoint of a panicking snapshot was not declined: %q", declined)
			}
		})
	}
}

// TestTrimStack checks the trimming on a recorded trace: the recovery frames
// and the task loop below the first runtime frame after the panic go.
func TestTrimStack(t *testing.T) {
	trace := `goroutine 7 [running]:
runtime/debug.Stack()
	/go/src/runtime/debug/stack.go:26 +0x5e
github.com/loom-yarn/loom/task.newPanicError(...)
	/loom/task/panic.go:90
github.com/loom-yarn/loom/task.catchPanic(0xc0000a0f18, {0x6c2a1b, 0x4}, {0x0, 0x0})
	/loom/task/panic.go:84 +0x65
panic({0x61f2a0?, 0xc000012345?})
	/go/src/runtime/panic.go:785 +0x132
runtime.panicmem(...)
	/go/src/runtime/panic.go:262
runtime.sigpanic()
	/go/src/runtime/signal_unix.go:917 +0x286
main.parse(...)
	/job/main.go:12
github.com/loom-yarn/loom/task/operator.(*Map[...]).ProcessBatch(0xc000100000, 0x0, {0x61f2a0, 0xc000100040})
	/loom/task/operator/basic.go:37 +0x53f
github.com/loom-yarn/loom/task.(*chainLink[...]).Push(0xc000102000, 0xc000100040)
	/loom/task/chain.go:68 +0xaf
github.com/loom-yarn/loom/task/operator.(*Source[...]).Step(0xc000104000)
	/loom/task/operator/source.go:107 +0x1a5
github.com/loom-yarn/loom/task.(*Task).step(0xc000106000, {0x6f0f00, 0xc000104000})
	/loom/task/task.go:166 +0x62
created by github.com/loom-yarn/loom/engine.Start in goroutine 1
	/loom/engine/engine.go:223 +0x7d0
`
	want := `goroutine 7 [running]:
main.parse(...)
	/job/main.go:12
github.com/loom-yarn/loom/task/operator.(*Map[...]).ProcessBatch(0xc000100000, 0x0, {0x61f2a0, 0xc000100040})
	/loom/task/operator/basic.go:37 +0x53f
github.com/loom-yarn/loom/task.(*chainLink[...]).Push(0xc000102000, 0xc000100040)
	/loom/task/chain.go:68 +0xaf`
	if got := trimStack(trace); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := trimStack("not a trace"); got != "not a trace" {
		t.Errorf("an unreadable trace changed: %q", got)
	}
}

// TestPanicOutsideOperators checks the net under the operator calls: a panic
// in code of the task's own (here its Finished callback) still fails the task
// with a PanicError rather than the process, and the operators are closed.
func TestPanicOutsideOperators(t *testing.T) {
	var log []string
	g := network.NewGate(1, 4)
	if err := g.Channel(0).Send(context.Background(), el("eoi"), nil); err != nil {
		t.Fatal(err)
	}
	op := &passOn{name: "only", log: &log}
	task := &Task{ID: "t", Name: "only", Subtask: 0, Parallel: 2, Ops: []Operator{op}, UIDs: []string{"o"},
		Contexts: []*Context{{Operator: "only"}}, Gate: g, InputOf: []int{0},
		Metrics: &TaskMetrics{Operators: []*OperatorMetrics{{}}}, Mail: make(chan Mail, 1),
		Finished: func() { panic("boom in Finished") }}
	err := task.Run(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Operator != "" {
		t.Fatalf("want a PanicError of no operator, got %v", err)
	}
	first, stack, _ := strings.Cut(err.Error(), "\n")
	if first != "task only: subtask 1 of 2 panicked: boom in Finished" {
		t.Errorf("first line %q", first)
	}
	if !strings.Contains(stack, "TestPanicOutsideOperators.func1(") {
		t.Errorf("stack lacks the panicking function:\n%s", stack)
	}
	if got := strings.Join(log, " "); got != "close only" {
		t.Errorf("closed: %q", got)
	}
}
