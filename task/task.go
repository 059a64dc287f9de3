package task

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/state"
)

// MailKind says what a control message asks of a task.
type MailKind uint8

const (
	// MailTriggerCheckpoint asks a source task to take checkpoint Checkpoint
	// and inject its barrier.
	MailTriggerCheckpoint MailKind = iota
	// MailCheckpointComplete says checkpoint Checkpoint completed everywhere.
	MailCheckpointComplete
	// MailStop ends the task where it stands, without end of input and
	// without finishing its operators: the job stopped with a savepoint,
	// which holds the task's state, and sinks committed what it covers.
	// Run returns ErrStopped.
	MailStop
)

// ErrStopped is what Run returns for a task ended by MailStop.
var ErrStopped = errors.New("task stopped with a savepoint")

// Mail is a control message for a task. Mail is served before input, so a
// checkpoint trigger never waits behind a queue of batches.
type Mail struct {
	Kind       MailKind
	Checkpoint int64
	Timestamp  int64 // trigger time, unix milliseconds
	// Stop, on a trigger, makes it the last checkpoint of a stopping job
	// (stop with savepoint): after the barrier the source emits nothing
	// more, and waits for MailStop. Drain first advances the source's
	// watermark to the maximum, so every event-time window and timer fires
	// before the barrier (loom stop --drain).
	Stop, Drain bool
}

// SourceOperator is the head of a source task: Step reads one batch from the
// connector and pushes it down the chain.
type SourceOperator interface {
	Operator
	Step() (ReadStatus, error)
}

// StateWriter receives a task's snapshot: operator state by operator uid,
// and keyed state entries.
type StateWriter interface {
	state.SnapshotWriter
	WriteOperatorState(uid string, data []byte) error
}

// Checkpointer stores task snapshots and acknowledges them to the checkpoint
// coordinator. Snapshot is called on the task goroutine; write writes the
// task's whole state. An error declines the checkpoint, it does not fail the task.
type Checkpointer interface {
	Snapshot(checkpointID int64, task string, subtask int, write func(StateWriter) error) error
}

// Task is one parallel subtask: a chain of operators run by one goroutine in a
// mailbox loop. Build it with all fields set, then call Run once.
type Task struct {
	ID       string // stable id of the chain (its head operator's uid)
	Name     string // readable chain name, for errors and metrics
	Subtask  int
	Parallel int

	Ops      []Operator // the chain, head first
	UIDs     []string   // uid of each operator in Ops
	Contexts []*Context // context of each operator in Ops

	// Gate is the task's input; nil for a source task, whose head is a SourceOperator.
	Gate *network.Gate
	// InputOf maps a gate channel to the input index of the head operator.
	InputOf []int
	// Writers are the chain's channel writers, for events and flushes.
	Writers []ChannelWriter

	Backend      state.Backend // nil if no operator is keyed
	Checkpointer Checkpointer  // nil when checkpointing is off
	Metrics      *TaskMetrics
	Mail         chan Mail
	// Finished is called when the task reached end of input and forwarded it.
	Finished func()
	// RestoredFinished says the checkpoint the task restores had it
	// finished: Run forwards end of input at once, without opening its
	// operators (a sink's files were published when it finished).
	RestoredFinished bool

	timers *procTimers
	names  []string // operator names by index in Ops, for PanicErrors

	// input state
	chWM     []int64
	chIdle   []bool
	chDone   []bool
	open     int // channels without end of input
	lastWM   int64
	idleSent bool
	aligning int64 // checkpoint being aligned, 0 if none
	alignTs  int64 // its trigger time, forwarded with the barrier
	blocked  []bool
	arrived  int
	lastCkpt int64
	// suspended is set on a source past the barrier of a stop-with-savepoint.
	suspended bool
	recordsIn *OperatorMetrics
}

// Timers returns the task's processing-time timer service, to put in the
// operators' contexts before Run. Run binds each operator's copy to the
// operator, so that a failing callback names it.
func (t *Task) Timers() ProcessingTimers {
	if t.timers == nil {
		t.timers = &procTimers{now: time.Now}
	}
	return t.timers
}

func (t *Task) errorf(format string, args ...any) error {
	return fmt.Errorf("task %s (subtask %d/%d): %s", t.Name, t.Subtask+1, t.Parallel, fmt.Sprintf(format, args...))
}

func (t *Task) wrap(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		// The panic names operator and subtask itself; the task is the one
		// that knows the subtask.
		pe.Subtask, pe.Parallelism = t.Subtask, t.Parallel
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	return fmt.Errorf("task %s (subtask %d/%d): %w", t.Name, t.Subtask+1, t.Parallel, err)
}

// opError gives the error of call (open, finish, close...) of operator i
// its context. A PanicError already names the operator and the call.
func (t *Task) opError(i int, call string, err error) error {
	if isPanic(err) {
		return err
	}
	return fmt.Errorf("%s %s: %w", call, t.names[i], err)
}

func isPanic(err error) bool {
	var pe *PanicError
	return errors.As(err, &pe)
}

// catch turns a panic in operator op into *err; see catchPanic.
func (t *Task) catch(err *error, op int, in string) {
	if r := recover(); r != nil {
		*err = newPanicError(r, t.names[op], in)
	}
}

// call runs a lifecycle call (in: "Open", "Finish"...) of operator i,
// recovering a panic. It is for calls made once or once per checkpoint; the
// per-batch calls have methods of their own that need no closure.
func (t *Task) call(i int, in string, f func() error) (err error) {
	defer t.catch(&err, i, in)
	return f()
}

// processBatch hands a batch to the head of the chain. Operators further down
// are called through chain links, which recover their own panics.
func (t *Task) processBatch(input int, b any) (err error) {
	defer t.catch(&err, 0, "")
	return t.Ops[0].ProcessBatch(input, b)
}

func (t *Task) processWatermark(wm int64) (err error) {
	defer t.catch(&err, 0, "")
	return t.Ops[0].ProcessWatermark(wm)
}

func (t *Task) step(src SourceOperator) (st ReadStatus, err error) {
	defer t.catch(&err, 0, "")
	return src.Step()
}

// prepare names the operators and binds their timer services to them.
func (t *Task) prepare() {
	t.Timers()
	t.names = make([]string, len(t.Ops))
	for i := range t.Ops {
		switch {
		case i < len(t.Contexts) && t.Contexts[i] != nil && t.Contexts[i].Operator != "":
			t.names[i] = t.Contexts[i].Operator
		case i < len(t.UIDs) && t.UIDs[i] != "":
			t.names[i] = t.UIDs[i]
		default:
			t.names[i] = fmt.Sprintf("#%d of %s", i, t.Name)
		}
	}
	for i, c := range t.Contexts {
		if i < len(t.names) && c != nil && c.Timers == ProcessingTimers(t.timers) {
			c.Timers = operatorTimers{p: t.timers, op: t.names[i]}
		}
	}
}

// Run opens the chain, processes input until end of input (or ctx ends, or an
// error), and closes the chain. It returns nil only after a clean finish.
//
// A panic in an operator (its user code, most often) is recovered where the
// task calls into it and fails the task with a *PanicError; the operators
// opened are closed as after any other failure.
func (t *Task) Run(ctx context.Context) (err error) {
	t.prepare()
	t.lastWM = NoTimestamp
	if t.Metrics != nil {
		t.Metrics.Watermark.Store(NoTimestamp)
	}
	if len(t.Metrics.Operators) > 0 {
		t.recordsIn = t.Metrics.Operators[0]
	}
	// ops[openFrom:] are open: opening runs tail first, so an operator that
	// fails to open leaves the ones after it open, and they are closed too.
	openFrom := len(t.Ops)
	defer func() {
		// The net under the recoveries at each operator call: a panic in the
		// task's own code, a writer flush or an input channel's codec.
		if r := recover(); r != nil {
			err = t.wrap(newPanicError(r, "", ""))
		}
		// Close in reverse order, always; the first error wins.
		for i := len(t.Ops) - 1; i >= openFrom; i-- {
			if c, ok := t.Ops[i].(Closer); ok {
				if cerr := t.call(i, "Close", c.Close); cerr != nil && err == nil {
					err = t.wrap(t.opError(i, "close", cerr))
				}
			}
		}
		if t.Backend != nil {
			if cerr := t.Backend.Close(); cerr != nil && err == nil {
				err = t.wrap(fmt.Errorf("close state backend: %w", cerr))
			}
		}
	}()
	if t.RestoredFinished {
		if err := t.broadcast(network.Element{Kind: network.KindEndOfInput}); err != nil {
			return t.wrap(err)
		}
		if t.Finished != nil {
			t.Finished()
		}
		return nil
	}
	// Open tail first, so that an operator may emit records while opening.
	for i := len(t.Ops) - 1; i >= 0; i-- {
		if o, ok := t.Ops[i].(Opener); ok {
			if err := t.call(i, "Open", func() error { return o.Open(t.Contexts[i]) }); err != nil {
				return t.wrap(t.opError(i, "open", err))
			}
		}
		openFrom = i
	}
	if src, ok := t.Ops[0].(SourceOperator); ok {
		return t.wrap(t.runSource(ctx, src))
	}
	if t.Gate == nil {
		return t.errorf("has neither a source nor an input")
	}
	return t.wrap(t.runInput(ctx))
}

func (t *Task) runSource(ctx context.Context, src SourceOperator) error {
	for {
		if err := t.serveMail(ctx, false, 0); err != nil {
			return err
		}
		if t.suspended {
			// Past the barrier of a stopping job's last checkpoint: only
			// mail (completion, then MailStop) and timers are served.
			if err := t.flush(); err != nil {
				return err
			}
			if err := t.serveMail(ctx, true, 0); err != nil {
				return err
			}
			continue
		}
		st, err := t.step(src)
		if err != nil {
			return err
		}
		if st.End {
			return t.finish()
		}
		if st.Wait > 0 {
			if err := t.flush(); err != nil {
				return err
			}
			if err := t.serveMail(ctx, true, st.Wait); err != nil {
				return err
			}
		}
	}
}

// serveMail handles pending mail and due timers. With wait, it also sleeps
// until mail, a timer, input (for input tasks), or maxWait (if > 0).
func (t *Task) serveMail(ctx context.Context, wait bool, maxWait time.Duration) error {
	for {
		select {
		case m := <-t.Mail:
			if err := t.handleMail(m); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		break
	}
	if err := t.timers.fireDue(); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	var timer <-chan time.Time
	deadline, hasTimer := t.timers.next()
	if maxWait > 0 {
		if d := time.Now().Add(maxWait); !hasTimer || d.Before(deadline) {
			deadline, hasTimer = d, true
		}
	}
	if hasTimer {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timer = tm.C
	}
	var ready <-chan struct{}
	if t.Gate != nil {
		ready = t.Gate.Ready()
	}
	select {
	case m := <-t.Mail:
		if err := t.handleMail(m); err != nil {
			return err
		}
	case <-ready:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	}
	return t.timers.fireDue()
}

func (t *Task) handleMail(m Mail) error {
	switch m.Kind {
	case MailStop:
		return ErrStopped
	case MailTriggerCheckpoint:
		if m.Drain && t.lastWM < MaxWatermark {
			t.lastWM = MaxWatermark
			t.Metrics.Watermark.Store(MaxWatermark)
			if err := t.processWatermark(MaxWatermark); err != nil {
				return err
			}
		}
		if err := t.checkpoint(m.Checkpoint, m.Timestamp); err != nil {
			return err
		}
		if m.Stop {
			t.suspended = true
		}
	case MailCheckpointComplete:
		for i, op := range t.Ops {
			if l, ok := op.(CheckpointListener); ok {
				err := t.call(i, "NotifyCheckpointComplete", func() error { return l.NotifyCheckpointComplete(m.Checkpoint) })
				if err != nil && !isPanic(err) {
					err = fmt.Errorf("%s: checkpoint %d complete: %w", t.names[i], m.Checkpoint, err)
				}
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (t *Task) runInput(ctx context.Context) error {
	n := t.Gate.NumChannels()
	t.chWM = make([]int64, n)
	for i := range t.chWM {
		t.chWM[i] = NoTimestamp
	}
	t.chIdle = make([]bool, n)
	t.chDone = make([]bool, n)
	t.blocked = make([]bool, n)
	t.open = n
	for {
		if err := t.serveMail(ctx, false, 0); err != nil {
			return err
		}
		if err := t.Gate.Err(); err != nil {
			// A remote input channel failed: nothing more will arrive on it.
			return err
		}
		ch, e, ok := t.Gate.Poll(t.blocked)
		if !ok {
			// Input drained: send partial batches now rather than hold them.
			if err := t.flush(); err != nil {
				return err
			}
			if err := t.serveMail(ctx, true, 0); err != nil {
				return err
			}
			continue
		}
		switch e.Kind {
		case network.KindBatch:
			if t.recordsIn != nil {
				t.recordsIn.RecordsIn.Add(int64(batchLen(e.Batch)))
			}
			if err := t.processBatch(t.InputOf[ch], e.Batch); err != nil {
				return err
			}
		case network.KindWatermark:
			if e.Timestamp > t.chWM[ch] {
				t.chWM[ch] = e.Timestamp
			}
			t.chIdle[ch] = false
			if err := t.advanceWatermark(); err != nil {
				return err
			}
		case network.KindIdle:
			t.chIdle[ch] = e.Idle
			if err := t.advanceWatermark(); err != nil {
				return err
			}
		case network.KindBarrier:
			if err := t.onBarrier(ch, e.Checkpoint, e.Timestamp); err != nil {
				return err
			}
		case network.KindEndOfInput:
			t.chDone[ch] = true
			t.open--
			if t.aligning != 0 && !t.blocked[ch] {
				if err := t.maybeAligned(); err != nil {
					return err
				}
			}
			if t.open == 0 {
				return t.finish()
			}
			if err := t.advanceWatermark(); err != nil {
				return err
			}
		}
	}
}

// batchLen counts the records of a batch without knowing its type.
func batchLen(b any) int {
	if l, ok := b.(interface{ Len() int }); ok {
		return l.Len()
	}
	return 0
}

// advanceWatermark recomputes the combined watermark: the minimum over
// channels that are neither idle nor finished. If every open channel is idle,
// the task declares itself idle downstream.
func (t *Task) advanceWatermark() error {
	wm := MaxWatermark
	active := 0
	for i := range t.chWM {
		if t.chDone[i] || t.chIdle[i] {
			continue
		}
		active++
		if t.chWM[i] < wm {
			wm = t.chWM[i]
		}
	}
	if active == 0 {
		if t.open > 0 && !t.idleSent {
			t.idleSent = true
			return t.broadcast(network.Element{Kind: network.KindIdle, Idle: true})
		}
		return nil
	}
	if t.idleSent {
		t.idleSent = false
		if err := t.broadcast(network.Element{Kind: network.KindIdle, Idle: false}); err != nil {
			return err
		}
	}
	if wm > t.lastWM && wm != NoTimestamp {
		t.lastWM = wm
		t.Metrics.Watermark.Store(wm)
		return t.processWatermark(wm)
	}
	return nil
}

// onBarrier aligns barriers: a channel that delivered the barrier of the
// checkpoint being aligned is held back until every open channel has it.
func (t *Task) onBarrier(ch int, id, ts int64) error {
	if id <= t.lastCkpt || (t.aligning != 0 && id < t.aligning) {
		return nil // a barrier of a checkpoint already taken or abandoned
	}
	if t.aligning != 0 && id > t.aligning {
		// A newer checkpoint overtook one that can no longer complete.
		t.resetAlignment()
	}
	if t.aligning == 0 {
		t.aligning, t.alignTs = id, ts
	}
	if !t.blocked[ch] {
		t.blocked[ch] = true
		t.arrived++
	}
	return t.maybeAligned()
}

func (t *Task) maybeAligned() error {
	if t.arrived < t.open {
		return nil
	}
	id, ts := t.aligning, t.alignTs
	t.resetAlignment()
	return t.checkpoint(id, ts)
}

func (t *Task) resetAlignment() {
	for i := range t.blocked {
		t.blocked[i] = false
	}
	t.arrived = 0
	t.aligning = 0
}

// checkpoint forwards the barrier of checkpoint id and snapshots the chain.
// Both happen between two batches, so the snapshot holds exactly the effect of
// the records before the barrier.
func (t *Task) checkpoint(id, ts int64) error {
	if id <= t.lastCkpt {
		return nil
	}
	t.lastCkpt = id
	if err := t.broadcast(network.Element{Kind: network.KindBarrier, Checkpoint: id, Timestamp: ts}); err != nil {
		return err
	}
	if t.Checkpointer == nil {
		return nil
	}
	// A panic in SnapshotState declines the checkpoint like an error does,
	// and then fails the task: unlike an error, it is a bug, and the
	// Checkpointer would let the job go on.
	var panicked error
	err := t.Checkpointer.Snapshot(id, t.ID, t.Subtask, func(w StateWriter) error {
		for i, op := range t.Ops {
			s, ok := op.(Snapshotter)
			if !ok {
				continue
			}
			var data []byte
			err := t.call(i, "SnapshotState", func() (err error) {
				data, err = s.SnapshotState(id)
				return err
			})
			if isPanic(err) {
				panicked = err
			}
			if err != nil {
				return t.opError(i, "snapshot", err)
			}
			if err := w.WriteOperatorState(t.UIDs[i], data); err != nil {
				return err
			}
		}
		if t.Backend == nil {
			return nil
		}
		// A writer that stores keyed state its own way (an incremental
		// checkpoint of the LSM backend's files, checkpoint.IncrementalWriter)
		// takes the backend; any other receives every entry.
		if kw, ok := w.(interface{ WriteKeyedState(state.Backend) error }); ok {
			if err := kw.WriteKeyedState(t.Backend); err != nil {
				return fmt.Errorf("snapshot keyed state: %w", err)
			}
			return nil
		}
		if err := t.Backend.Snapshot(w); err != nil {
			return fmt.Errorf("snapshot keyed state: %w", err)
		}
		return nil
	})
	if panicked != nil {
		return panicked
	}
	return err
}

// finish ends the task: the final watermark fires every event-time timer,
// operators flush, and end of input goes downstream.
func (t *Task) finish() error {
	if t.lastWM < MaxWatermark {
		t.lastWM = MaxWatermark
		t.Metrics.Watermark.Store(MaxWatermark)
		if err := t.processWatermark(MaxWatermark); err != nil {
			return err
		}
	}
	for i, op := range t.Ops {
		if f, ok := op.(Finisher); ok {
			if err := t.call(i, "Finish", f.Finish); err != nil {
				return t.opError(i, "finish", err)
			}
		}
	}
	if err := t.broadcast(network.Element{Kind: network.KindEndOfInput}); err != nil {
		return err
	}
	if t.Finished != nil {
		t.Finished()
	}
	return nil
}

func (t *Task) broadcast(e network.Element) error {
	for _, w := range t.Writers {
		if err := w.Broadcast(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) flush() error {
	for _, w := range t.Writers {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}
