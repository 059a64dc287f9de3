package operator

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
)

// Window is the half-open time range [Start, End) in milliseconds that a
// window operator groups records by. It has the layout of state.Namespace, so
// a window is the namespace of its timers without translation.
type Window struct{ Start, End int64 }

// MaxTimestamp is the last millisecond inside w: the time the window fires at
// and the event time of its results.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

func (w Window) String() string { return fmt.Sprintf("[%d, %d)", w.Start, w.End) }

// intersects follows Flink's TimeWindow.intersects: windows that touch
// (one ends where the other starts) also merge, so a session continues when
// the next record comes exactly one gap later.
func (w Window) intersects(o Window) bool { return w.Start <= o.End && w.End >= o.Start }

func (w Window) cover(o Window) Window { return Window{min(w.Start, o.Start), max(w.End, o.End)} }

func (w Window) ns() state.Namespace { return state.Namespace(w) }

// WindowResult is what a window aggregation emits: the key, the window and
// the aggregate of the key's records in it.
type WindowResult[K, V any] struct {
	Key    K
	Window Window
	Value  V
}

func (r WindowResult[K, V]) String() string {
	return fmt.Sprintf("%v\t%d\t%d\t%v", r.Key, r.Window.Start, r.Window.End, r.Value)
}

// WindowAssigner decides which windows a record belongs to, as Flink's.
// Implementations are small values (Tumbling, Sliding, Session) so that every
// subtask and every process builds the same assigner from the job's code.
type WindowAssigner interface {
	// AssignWindows appends to dst the windows of a record at time ts (its
	// event time, or the wall clock for processing time).
	AssignWindows(dst []Window, ts int64) []Window
	// Domain says whether windows follow event time (watermarks) or the wall clock.
	Domain() TimeDomain
	// Merging reports whether overlapping windows of a key merge into one
	// (session windows).
	Merging() bool
	// Validate reports parameters that make no windows (a zero size).
	Validate() error
	String() string
}

// windowStart is Flink's TimeWindow.getWindowStartWithOffset with a floor
// modulo, so that timestamps before the epoch (or before the offset) land in
// the window that contains them.
func windowStart(ts, offset, size int64) int64 {
	m := (ts - offset) % size
	if m < 0 {
		m += size
	}
	return ts - m
}

// Tumbling assigns each record to the one window of Size containing it;
// windows start at Offset modulo Size (Offset shifts them, e.g. to a time
// zone's midnight).
type Tumbling struct {
	Size, Offset time.Duration
	Time         TimeDomain
}

// AssignWindows implements WindowAssigner.
func (t Tumbling) AssignWindows(dst []Window, ts int64) []Window {
	size := t.Size.Milliseconds()
	start := windowStart(ts, t.Offset.Milliseconds(), size)
	return append(dst, Window{start, start + size})
}

// Domain implements WindowAssigner.
func (t Tumbling) Domain() TimeDomain { return t.Time }

// Merging implements WindowAssigner.
func (Tumbling) Merging() bool { return false }

// Validate implements WindowAssigner.
func (t Tumbling) Validate() error {
	if t.Size.Milliseconds() <= 0 {
		return fmt.Errorf("tumbling window size %v: must be at least 1ms", t.Size)
	}
	if off, size := t.Offset.Milliseconds(), t.Size.Milliseconds(); off >= size || -off >= size {
		return fmt.Errorf("tumbling window offset %v: must be smaller in magnitude than the size %v", t.Offset, t.Size)
	}
	return nil
}

func (t Tumbling) String() string {
	return fmt.Sprintf("tumbling %s size=%v offset=%v", domainName(t.Time), t.Size, t.Offset)
}

// Sliding assigns each record to the Size/Slide overlapping windows of Size
// that contain it; a window starts every Slide (shifted by Offset).
type Sliding struct {
	Size, Slide, Offset time.Duration
	Time                TimeDomain
}

// AssignWindows implements WindowAssigner. Windows come latest first, as in Flink.
func (s Sliding) AssignWindows(dst []Window, ts int64) []Window {
	size, slide := s.Size.Milliseconds(), s.Slide.Milliseconds()
	for start := windowStart(ts, s.Offset.Milliseconds(), slide); start > ts-size; start -= slide {
		dst = append(dst, Window{start, start + size})
	}
	return dst
}

// Domain implements WindowAssigner.
func (s Sliding) Domain() TimeDomain { return s.Time }

// Merging implements WindowAssigner.
func (Sliding) Merging() bool { return false }

// Validate implements WindowAssigner.
func (s Sliding) Validate() error {
	size, slide := s.Size.Milliseconds(), s.Slide.Milliseconds()
	if size <= 0 || slide <= 0 {
		return fmt.Errorf("sliding window size %v, slide %v: both must be at least 1ms", s.Size, s.Slide)
	}
	if off := s.Offset.Milliseconds(); off >= slide || -off >= slide {
		return fmt.Errorf("sliding window offset %v: must be smaller in magnitude than the slide %v", s.Offset, s.Slide)
	}
	return nil
}

func (s Sliding) String() string {
	return fmt.Sprintf("sliding %s size=%v slide=%v offset=%v", domainName(s.Time), s.Size, s.Slide, s.Offset)
}

// Session puts a key's records into sessions: a record opens the window
// [ts, ts+Gap), and windows of the same key that overlap or touch merge, so a
// session ends after Gap without records of its key.
type Session struct {
	Gap  time.Duration
	Time TimeDomain
}

// AssignWindows implements WindowAssigner.
func (s Session) AssignWindows(dst []Window, ts int64) []Window {
	return append(dst, Window{ts, ts + s.Gap.Milliseconds()})
}

// Domain implements WindowAssigner.
func (s Session) Domain() TimeDomain { return s.Time }

// Merging implements WindowAssigner.
func (Session) Merging() bool { return true }

// Validate implements WindowAssigner.
func (s Session) Validate() error {
	if s.Gap.Milliseconds() <= 0 {
		return fmt.Errorf("session gap %v: must be at least 1ms", s.Gap)
	}
	return nil
}

func (s Session) String() string { return fmt.Sprintf("session %s gap=%v", domainName(s.Time), s.Gap) }

func domainName(d TimeDomain) string {
	if d == ProcessingTime {
		return "processing-time"
	}
	return "event-time"
}

// cleanupTime is when a window's state goes: its max timestamp plus the
// allowed lateness, saturating instead of overflowing (Flink does the same).
func cleanupTime(w Window, lateness int64) int64 {
	t := w.MaxTimestamp()
	if lateness > 0 && t > math.MaxInt64-lateness {
		return math.MaxInt64
	}
	return t + lateness
}

// windowCodec encodes a window as two big-endian int64 with the sign bit
// flipped: fixed width, canonical, and ordered by time in the LSM backend.
type windowCodec struct{}

func (windowCodec) Append(dst []byte, w Window) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start)^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(w.End)^(1<<63))
}

func (windowCodec) Decode(src []byte) (Window, int, error) {
	if len(src) < 16 {
		return Window{}, 0, codec.ErrShort
	}
	return Window{
		Start: int64(binary.BigEndian.Uint64(src) ^ (1 << 63)),
		End:   int64(binary.BigEndian.Uint64(src[8:]) ^ (1 << 63)),
	}, 16, nil
}

// WindowCodec is the codec of Window, for users who keep windows in state or
// send them between tasks.
var WindowCodec codec.Codec[Window] = windowCodec{}

// elemKey addresses one buffered record of a window: the window and the
// record's position in it, so a window's records come back in arrival order.
type elemKey struct {
	W   Window
	Seq int64
}

type elemKeyCodec struct{}

func (elemKeyCodec) Append(dst []byte, k elemKey) []byte {
	dst = windowCodec{}.Append(dst, k.W)
	return binary.BigEndian.AppendUint64(dst, uint64(k.Seq))
}

func (elemKeyCodec) Decode(src []byte) (elemKey, int, error) {
	w, n, err := windowCodec{}.Decode(src)
	if err != nil {
		return elemKey{}, 0, err
	}
	if len(src) < n+8 {
		return elemKey{}, 0, codec.ErrShort
	}
	return elemKey{W: w, Seq: int64(binary.BigEndian.Uint64(src[n:]))}, n + 8, nil
}
