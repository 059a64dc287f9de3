// Package datagen is a source that generates records from a function of the
// record index: deterministic by seed, bounded or not, optionally paced to a
// rate. It is the input of benchmarks, demos and tests.
package datagen

import (
	"encoding/binary"
	"fmt"
	"math"
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
// RestoresAtAnyParallelism implements task.RescalableConnector: the
// positions of a checkpoint taken at another parallelism are reassigned.
func (s *Source[T]) RestoresAtAnyParallelism() {}

// NewReader implements task.Source: subtask i of n generates the indexes
// i, i+n, i+2n, ... (one lane). A reader restored at another parallelism
// takes over lanes of the old subtasks instead (see Open).
func (s *Source[T]) NewReader(subtask, parallelism int) (task.SourceReader[T], error) {
	if parallelism < 1 || subtask < 0 || subtask >= parallelism {
		return nil, fmt.Errorf("datagen: subtask %d of %d is out of range", subtask, parallelism)
	}
	if s.opts.Rate < 0 || math.IsNaN(s.opts.Rate) || math.IsInf(s.opts.Rate, 0) {
		// An infinite rate paces nothing and NaN compares false with
		// everything: either would make the pacing wait forever.
		return nil, fmt.Errorf("datagen: rate %g records/s: want a finite number, 0 or more (0 is as fast as possible)", s.opts.Rate)
	}
	return &reader[T]{src: s, subtask: subtask, parallelism: parallelism, lanes: []lane{{next: int64(subtask), step: int64(parallelism)}},
		rate: s.opts.Rate / float64(parallelism)}, nil
}

// lane is an arithmetic sequence of indexes: next, next+step, ... A
// subtask generates one lane at first; after a restore at another
// parallelism it may own several, or none.
type lane struct{ next, step int64 }

// reader generates one subtask's lanes, a batch from each in turn.
type reader[T any] struct {
	src                  *Source[T]
	subtask, parallelism int
	lanes                []lane
	cur                  int // lane the next batch comes from

	ctx   *task.Context
	now   func() time.Time
	rate  float64 // this subtask's records per second, 0 for no pacing
	start time.Time
	sent  int64 // records since start, for pacing
}

// Open implements task.SourceReader: it resumes its lanes from
// ctx.Restored, or, restored at another parallelism, takes its share of
// every old subtask's lanes (ctx.Rescaled).
func (r *reader[T]) Open(ctx *task.Context) error {
	r.ctx = ctx
	r.now = time.Now
	if ctx != nil && ctx.Timers != nil {
		r.now = ctx.Timers.Now
	}
	if ctx == nil {
		return nil
	}
	switch {
	case ctx.Restored != nil:
		lanes, err := decodeLanes(ctx.Restored, r.subtask, r.parallelism)
		if err != nil {
			return fmt.Errorf("datagen: subtask %d: %w", r.subtask, err)
		}
		r.lanes = lanes
	case ctx.Rescaled != nil:
		var all []lane
		for i, b := range ctx.Rescaled {
			if b == nil {
				continue
			}
			lanes, err := decodeLanes(b, i, len(ctx.Rescaled))
			if err != nil {
				return fmt.Errorf("datagen: the checkpoint's subtask %d: %w", i, err)
			}
			all = append(all, lanes...)
		}
		r.lanes = shareOf(all, r.subtask, r.parallelism, r.src.opts.Count)
	}
	return nil
}

// shareOf is subtask i of n's share of lanes: lane k goes to subtask k mod
// n, after lanes are split in two (next, 2 step; next+step, 2 step) until
// there are at least n of those that still have indexes to generate, so
// that a larger parallelism has work for every subtask. Every subtask
// computes the same split from the same lanes.
func shareOf(lanes []lane, i, n int, count int64) []lane {
	live := func(ls []lane) []lane {
		var out []lane
		for _, l := range ls {
			if count <= 0 || l.next < count {
				out = append(out, l)
			}
		}
		return out
	}
	lanes = live(lanes)
	for len(lanes) > 0 && len(lanes) < n {
		var split []lane
		for _, l := range lanes {
			split = append(split, lane{l.next, 2 * l.step}, lane{l.next + l.step, 2 * l.step})
		}
		if lanes = live(split); len(lanes) == len(split)/2 {
			break // splitting no longer adds lanes with work
		}
	}
	var mine []lane
	for k, l := range lanes {
		if k%n == i {
			mine = append(mine, l)
		}
	}
	return mine
}

// Read implements task.SourceReader.
func (r *reader[T]) Read(b *task.Batch[T]) (task.ReadStatus, error) {
	count := r.src.opts.Count
	// The next lane with indexes left.
	for k := 0; k < len(r.lanes); k++ {
		if count <= 0 || r.lanes[r.cur].next < count {
			break
		}
		r.cur = (r.cur + 1) % len(r.lanes)
	}
	if len(r.lanes) == 0 || (count > 0 && r.lanes[r.cur].next >= count) {
		return task.ReadStatus{End: true}, nil
	}
	l := &r.lanes[r.cur]
	room := int64(cap(b.Values) - b.Len())
	if count > 0 {
		room = min(room, (count-l.next+l.step-1)/l.step)
	}
	if r.rate > 0 {
		now := r.now()
		if r.start.IsZero() {
			r.start = now
		}
		due := int64(now.Sub(r.start).Seconds()*r.rate) + 1 - r.sent
		if due <= 0 {
			nextAt := r.start.Add(time.Duration(float64(r.sent) / r.rate * float64(time.Second)))
			return task.ReadStatus{Wait: max(nextAt.Sub(now), time.Millisecond)}, nil
		}
		room = min(room, due)
		r.sent += room
	}
	seed, gen, next, step := r.src.opts.Seed, r.src.gen, l.next, l.step
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
	l.next = next
	r.cur = (r.cur + 1) % len(r.lanes)
	return task.ReadStatus{}, nil
}

// Snapshot implements task.SourceReader: the lanes and where each is. The
// subtask's own lane alone (step = parallelism) is saved as its next index
// (the format of checkpoints before lanes); otherwise a -1 marker, the
// number of lanes, and each lane's next index and step, all varints.
func (r *reader[T]) Snapshot() ([]byte, error) {
	if len(r.lanes) == 1 && r.lanes[0].step == int64(r.parallelism) && r.lanes[0].next%r.lanes[0].step == int64(r.subtask) {
		return binary.AppendVarint(nil, r.lanes[0].next), nil
	}
	b := binary.AppendVarint(nil, -1)
	b = binary.AppendUvarint(b, uint64(len(r.lanes)))
	for _, l := range r.lanes {
		b = binary.AppendVarint(b, l.next)
		b = binary.AppendVarint(b, l.step)
	}
	return b, nil
}

// decodeLanes reads a Snapshot of subtask of a job at parallelism.
func decodeLanes(b []byte, subtask, parallelism int) ([]lane, error) {
	corrupt := fmt.Errorf("corrupt checkpoint position (%d bytes)", len(b))
	first, n := binary.Varint(b)
	if n <= 0 {
		return nil, corrupt
	}
	if first >= 0 {
		if n != len(b) {
			return nil, corrupt
		}
		if first%int64(parallelism) != int64(subtask) {
			return nil, fmt.Errorf("restored index %d is not one of subtask %d of %d", first, subtask, parallelism)
		}
		return []lane{{next: first, step: int64(parallelism)}}, nil
	}
	if first != -1 {
		return nil, corrupt
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, corrupt
	}
	b = b[n:]
	lanes := make([]lane, 0, count)
	for range count {
		next, n1 := binary.Varint(b)
		if n1 <= 0 {
			return nil, corrupt
		}
		step, n2 := binary.Varint(b[n1:])
		if n2 <= 0 || next < 0 || step <= 0 {
			return nil, corrupt
		}
		b = b[n1+n2:]
		lanes = append(lanes, lane{next, step})
	}
	if len(b) != 0 {
		return nil, corrupt
	}
	return lanes, nil
}

func (r *reader[T]) Close() error { return nil }
