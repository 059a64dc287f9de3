// Package datagen is a source that generates records from a function of the
// record index: deterministic by seed, bounded or not, optionally paced to a
// rate. It is the input of benchmarks, demos and tests.
package datagen

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/loom-yarn/loom/task"
)

// Options configure a generator.
type Options struct {
	// Count is the number of records; <= 0 generates forever (unbounded).
	Count int64
	// Rate is records per second over all subtasks; 0 is as fast as possible.
	Rate float64
	// Seed makes different runs generate different (but repeatable) data.
	Seed uint64
}

// Source generates records gen(i, r) for i = 0, 1, ..., where r is a Rand
// seeded from (Seed, i). Subtask s of p generates i = s, s+p, s+2p, ...
type Source[T any] struct {
	gen  func(index int64, r *Rand) T
	opts Options
}

var _ task.Source[int] = (*Source[int])(nil)

// New returns a generator source. gen must be a pure function of its
// arguments for the output to be deterministic.
func New[T any](gen func(index int64, r *Rand) T, opts Options) *Source[T] {
	return &Source[T]{gen: gen, opts: opts}
}

// Bounded reports whether Count is set.
func (s *Source[T]) Bounded() bool { return s.opts.Count > 0 }

// NewReader returns the reader of subtask i of n.
func (s *Source[T]) NewReader(subtask, parallelism int) (task.SourceReader[T], error) {
	if parallelism < 1 || subtask < 0 || subtask >= parallelism {
		return nil, fmt.Errorf("datagen: subtask %d of %d is out of range", subtask, parallelism)
	}
	if s.opts.Rate < 0 {
		return nil, fmt.Errorf("datagen: rate %g records/s is negative", s.opts.Rate)
	}
	return &reader[T]{src: s, step: int64(parallelism), next: int64(subtask), subtask: int64(subtask),
		rate: s.opts.Rate / float64(parallelism)}, nil
}

type reader[T any] struct {
	src     *Source[T]
	step    int64
	subtask int64
	next    int64 // index of the next record

	ctx   *task.Context
	now   func() time.Time
	rate  float64 // this subtask's records per second, 0 for no pacing
	start time.Time
	sent  int64 // records since start, for pacing
}

// Open restores the next index from ctx.Restored.
func (r *reader[T]) Open(ctx *task.Context) error {
	r.ctx = ctx
	r.now = time.Now
	if ctx != nil && ctx.Timers != nil {
		r.now = ctx.Timers.Now
	}
	if ctx != nil && ctx.Restored != nil {
		next, n := binary.Varint(ctx.Restored)
		if n <= 0 || n != len(ctx.Restored) {
			return fmt.Errorf("datagen: corrupt checkpoint position (%d bytes)", len(ctx.Restored))
		}
		if next < 0 || next%r.step != r.subtask%r.step {
			return fmt.Errorf("datagen: restored index %d is not one of subtask %d of %d", next, r.subtask, r.step)
		}
		r.next = next
	}
	return nil
}

// Read generates as many records as fit in b and, with a rate, are due.
func (r *reader[T]) Read(b *task.Batch[T]) (task.ReadStatus, error) {
	count := r.src.opts.Count
	if count > 0 && r.next >= count {
		return task.ReadStatus{End: true}, nil
	}
	room := int64(cap(b.Values) - b.Len())
	if count > 0 {
		room = min(room, (count-r.next+r.step-1)/r.step)
	}
	if r.rate > 0 {
		now := r.now()
		if r.start.IsZero() {
			r.start = now
		}
		// Records due by now: one at the start, then one every 1/rate seconds.
		due := int64(now.Sub(r.start).Seconds()*r.rate) + 1 - r.sent
		if due <= 0 {
			nextAt := r.start.Add(time.Duration(float64(r.sent) / r.rate * float64(time.Second)))
			return task.ReadStatus{Wait: max(nextAt.Sub(now), time.Millisecond)}, nil
		}
		room = min(room, due)
		r.sent += room
	}
	seed, gen, next, step := r.src.opts.Seed, r.src.gen, r.next, r.step
	n0 := len(b.Values)
	b.Values = b.Values[:n0+int(room)]
	b.Times = b.Times[:n0+int(room)]
	var rnd Rand
	for i := n0; i < len(b.Values); i++ {
		rnd.Reset(seed, next)
		b.Values[i] = gen(next, &rnd)
		b.Times[i] = task.NoTimestamp
		next += step
	}
	r.next = next
	return task.ReadStatus{}, nil
}

// Snapshot returns the index of the next record.
func (r *reader[T]) Snapshot() ([]byte, error) { return binary.AppendVarint(nil, r.next), nil }

// Close does nothing: a generator holds no resources.
func (r *reader[T]) Close() error { return nil }
