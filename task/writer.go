package task

import (
	"context"
	"time"

	"github.com/loom-yarn/loom/network"
)

// ChannelWriter is the untyped side of a writer at the end of a chain: the
// task uses it to flush buffered records and to send in-band events (barriers,
// idleness, end of input) to every downstream channel.
type ChannelWriter interface {
	// Flush sends every partially filled batch.
	Flush() error
	// Broadcast flushes, then sends e on every channel.
	Broadcast(e network.Element) error
}

// Partitioner picks the channel of each record. It is made per writer (it may
// keep scratch space) and called from the writer's task only.
type Partitioner[T any] interface {
	// Route returns the channel of v, in [0, n).
	Route(v *T, n int) int
}

// Writer partitions a chain's output records over the channels of the
// downstream subtasks. Records are copied into one pending batch per channel;
// a full batch is handed to its channel, so a consumer receives batches, never
// single records.
type Writer[T any] struct {
	ctx       context.Context
	senders   []network.Sender
	pending   []*Batch[T]
	part      Partitioner[T] // nil: broadcast every record
	batchSize int
	task      *TaskMetrics
	out       *OperatorMetrics
	waited    time.Duration
}

// NewWriter makes a writer over senders. part nil broadcasts every record.
// The writer's waits for room downstream are added to task's backpressure time;
// the records it takes are counted as out's output.
func NewWriter[T any](ctx context.Context, senders []network.Sender, part Partitioner[T], batchSize int, task *TaskMetrics, out *OperatorMetrics) *Writer[T] {
	if batchSize < 1 {
		batchSize = 1
	}
	w := &Writer[T]{ctx: ctx, senders: senders, part: part, batchSize: batchSize, task: task, out: out}
	w.pending = make([]*Batch[T], len(senders))
	for i := range w.pending {
		w.pending[i] = NewBatch[T](batchSize)
	}
	return w
}

// writerCall is what a PanicError from a writer says panicked: routing runs
// the user's key selector, sending runs the record codec on a remote edge.
const writerCall = "its output (key selector, partitioner or record codec)"

// catch turns a panic in routing or encoding into *err, naming the operator
// whose output this writer is: the key selector of a KeyBy is the user's code
// on the edge after that operator.
func (w *Writer[T]) catch(err *error) {
	if r := recover(); r != nil {
		name := ""
		if w.out != nil {
			name = w.out.Operator
		}
		*err = newPanicError(r, name, writerCall)
	}
}

// Push implements Output.
func (w *Writer[T]) Push(b *Batch[T]) (err error) {
	defer w.catch(&err)
	if w.out != nil {
		w.out.RecordsOut.Add(int64(b.Len()))
	}
	n := len(w.senders)
	if w.part == nil {
		for c := 0; c < n; c++ {
			if err := w.appendAll(c, b); err != nil {
				return err
			}
		}
		return nil
	}
	if n == 1 {
		return w.appendAll(0, b)
	}
	for i := range b.Values {
		c := w.part.Route(&b.Values[i], n)
		p := w.pending[c]
		p.Values = append(p.Values, b.Values[i])
		p.Times = append(p.Times, b.Times[i])
		if len(p.Values) >= w.batchSize {
			if err := w.send(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendAll copies all of b to channel c's pending batch, sending full ones.
func (w *Writer[T]) appendAll(c int, b *Batch[T]) error {
	vals, times := b.Values, b.Times
	for len(vals) > 0 {
		p := w.pending[c]
		k := min(w.batchSize-len(p.Values), len(vals))
		p.Values = append(p.Values, vals[:k]...)
		p.Times = append(p.Times, times[:k]...)
		vals, times = vals[k:], times[k:]
		if len(p.Values) >= w.batchSize {
			if err := w.send(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer[T]) send(c int) error {
	b := w.pending[c]
	w.pending[c] = NewBatch[T](w.batchSize)
	return w.sendElement(c, network.Element{Kind: network.KindBatch, Batch: b})
}

func (w *Writer[T]) sendElement(c int, e network.Element) error {
	var waited time.Duration
	err := w.senders[c].Send(w.ctx, e, &waited)
	if waited > 0 && w.task != nil {
		w.task.BackpressuredNanos.Add(int64(waited))
	}
	return err
}

// Watermark implements Output: it flushes and forwards wm to every channel.
func (w *Writer[T]) Watermark(wm int64) error {
	return w.Broadcast(network.Element{Kind: network.KindWatermark, Timestamp: wm})
}

// Flush implements ChannelWriter.
func (w *Writer[T]) Flush() (err error) {
	defer w.catch(&err)
	for c, p := range w.pending {
		if len(p.Values) > 0 {
			if err := w.send(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// Broadcast implements ChannelWriter.
func (w *Writer[T]) Broadcast(e network.Element) (err error) {
	defer w.catch(&err)
	if err := w.Flush(); err != nil {
		return err
	}
	for c := range w.senders {
		if err := w.sendElement(c, e); err != nil {
			return err
		}
	}
	return nil
}

// ForwardPartitioner sends everything to the single channel of a one-to-one edge.
type ForwardPartitioner[T any] struct{}

// Route implements Partitioner.
func (ForwardPartitioner[T]) Route(*T, int) int { return 0 }

// RebalancePartitioner spreads records round-robin over all channels.
type RebalancePartitioner[T any] struct{ next int }

// Route implements Partitioner.
func (p *RebalancePartitioner[T]) Route(_ *T, n int) int {
	c := p.next
	p.next++
	if p.next >= n {
		p.next = 0
	}
	return c
}
