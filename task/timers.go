package task

import (
	"container/heap"
	"time"
)

// procTimers is a task's processing-time timer queue. It implements
// ProcessingTimers; the task loop sleeps until the earliest deadline and runs
// due callbacks between batches, on its own goroutine.
type procTimers struct {
	h   timerHeap
	seq int64
	now func() time.Time
}

type procTimer struct {
	at  time.Time
	seq int64  // ties fire in scheduling order
	op  string // the operator that scheduled it, for a PanicError; "" if unknown
	fn  func(now time.Time) error
}

type timerHeap []procTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(procTimer)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (p *procTimers) Now() time.Time { return p.now() }

func (p *procTimers) At(t time.Time, fn func(now time.Time) error) { p.at(t, "", fn) }

func (p *procTimers) at(t time.Time, op string, fn func(now time.Time) error) {
	p.seq++
	heap.Push(&p.h, procTimer{at: t, seq: p.seq, op: op, fn: fn})
}

// operatorTimers is one operator's view of its task's timer service: the
// callbacks it schedules carry its name, so that a panic in one names the
// operator. Task.Run gives one to each operator whose Context holds the
// task's service.
type operatorTimers struct {
	p  *procTimers
	op string
}

func (o operatorTimers) Now() time.Time { return o.p.now() }

func (o operatorTimers) At(t time.Time, fn func(now time.Time) error) { o.p.at(t, o.op, fn) }

// next is the earliest deadline, if any.
func (p *procTimers) next() (time.Time, bool) {
	if len(p.h) == 0 {
		return time.Time{}, false
	}
	return p.h[0].at, true
}

// fireDue runs every callback due by now, including ones they schedule for
// times already passed.
func (p *procTimers) fireDue() error {
	now := p.now()
	for len(p.h) > 0 && !p.h[0].at.After(now) {
		t := heap.Pop(&p.h).(procTimer)
		if err := t.fire(now); err != nil {
			return err
		}
	}
	return nil
}

func (t *procTimer) fire(now time.Time) (err error) {
	defer catchPanic(&err, t.op, "a processing-time timer")
	return t.fn(now)
}
