package task

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
)

// PanicError is the error a task fails with when code it runs panicked: a
// user function (a Map closure, a process function, a key selector, a sink),
// a connector, or an operator itself. The runtime recovers at each place it
// calls into an operator, so one bad record fails its task like any other
// error (the engine cancels the other tasks, which shut down and close their
// operators) instead of killing the process with Go's raw panic dump.
//
// Error begins with one line naming the operator and the panic value, the
// line a CLI prints first; the trimmed stack of the panic follows on the next
// lines. A PanicError does not unwrap to the panic value even when that is an
// error: a panic is a bug, and must not pass for a cancellation or a bad
// record that errors.Is would let a caller skip.
type PanicError struct {
	// Operator is the name of the operator (the graph vertex) whose code
	// panicked: in a chain, the operator that was called, not the chain's
	// head. Empty when the panic came from outside any operator (the task
	// loop, an input channel's codec, a timer scheduled through the task's
	// own timer service).
	Operator string
	// In names the call that panicked when it was not the processing of
	// records or watermarks: "Open", "Finish", "Close", "SnapshotState",
	// "NotifyCheckpointComplete", "a processing-time timer", or the
	// operator's output writer.
	In string
	// Subtask (from 0) and Parallelism are the task's; the task fills them
	// in when the error leaves it (Parallelism is 0 until then).
	Subtask, Parallelism int
	// Value is what the code passed to panic.
	Value any
	// Stack is the panicking goroutine's stack from the frame that
	// panicked down to the runtime frame that called the operator.
	Stack string
}

// Error implements error: the first line names who panicked and the value;
// the stack follows.
func (e *PanicError) Error() string {
	var b strings.Builder
	switch {
	case e.Operator != "" && e.Parallelism > 0:
		fmt.Fprintf(&b, "operator %s (subtask %d of %d) ", e.Operator, e.Subtask+1, e.Parallelism)
	case e.Operator != "":
		fmt.Fprintf(&b, "operator %s ", e.Operator)
	case e.Parallelism > 0:
		fmt.Fprintf(&b, "subtask %d of %d ", e.Subtask+1, e.Parallelism)
	}
	b.WriteString("panicked")
	if e.In != "" {
		b.WriteString(" in ")
		b.WriteString(e.In)
	}
	b.WriteString(": ")
	if err, ok := e.Value.(error); ok {
		b.WriteString(err.Error())
	} else {
		fmt.Fprint(&b, e.Value)
	}
	if e.Stack != "" {
		b.WriteByte('\n')
		b.WriteString(e.Stack)
	}
	return b.String()
}

// catchPanic turns a panic into *err. Deferred by every runtime function
// that calls into an operator, as `defer catchPanic(&err, name, in)`: a
// deferred call with plain arguments is open-coded by the compiler, so when
// nothing panics it costs one call per batch (a few nanoseconds), never one
// per record.
func catchPanic(err *error, operator, in string) {
	if r := recover(); r != nil {
		*err = newPanicError(r, operator, in)
	}
}

// newPanicError captures the stack; it must run inside the deferred call that
// recovered r, while the panicking frames are still on the stack.
func newPanicError(r any, operator, in string) *PanicError {
	return &PanicError{Operator: operator, In: in, Value: r, Stack: trimStack(string(debug.Stack()))}
}

// taskPkg is this package's import path, the prefix of its frames in a
// stack trace.
var taskPkg = reflect.TypeFor[Task]().PkgPath()

// maxStackFrames bounds the frames a PanicError keeps, for deep recursion.
const maxStackFrames = 32

// trimStack cuts a debug.Stack trace down to what explains a panic: the
// goroutine header, then the frames from the one that panicked (below the
// recovery machinery, the panic call itself and Go runtime helpers such as
// runtime.panicmem) down to and including the first frame of this package
// that follows it, the runtime call into the operator. The task loop and the
// engine below that frame say nothing about the bug. A trace it cannot read
// is kept whole.
func trimStack(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "goroutine ") {
		return s
	}
	// A frame is a function line followed by its indented file:line.
	type frame struct{ fn, file string }
	var frames []frame
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "\t") && len(frames) > 0 && frames[len(frames)-1].file == "" {
			frames[len(frames)-1].file = l
			continue
		}
		frames = append(frames, frame{fn: l})
	}
	start := -1
	for i, f := range frames {
		if strings.HasPrefix(f.fn, "panic(") {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return s
	}
	for start < len(frames) && strings.HasPrefix(frames[start].fn, "runtime.") {
		start++
	}
	var b strings.Builder
	b.WriteString(lines[0])
	kept := 0
	for _, f := range frames[start:] {
		if kept == maxStackFrames {
			b.WriteString("\n...")
			break
		}
		b.WriteByte('\n')
		b.WriteString(f.fn)
		if f.file != "" {
			b.WriteByte('\n')
			b.WriteString(f.file)
		}
		kept++
		if kept > 1 && strings.HasPrefix(f.fn, taskPkg+".") {
			break
		}
	}
	return b.String()
}
