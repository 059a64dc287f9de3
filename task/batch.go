// Package runtime executes a job graph: one goroutine per subtask runs a
// mailbox loop over a chain of operators, moving records in batches through
// the channels of package network, with watermarks, checkpoint barriers and end
// of input in-band.
package task

import (
	"math"
	"reflect"
	"sync"
)

// NoTimestamp marks a record without an event time.
const NoTimestamp int64 = math.MinInt64

// MaxWatermark is the watermark that ends event time: a bounded input sends it
// before end of input so that every window and event-time timer fires.
const MaxWatermark int64 = math.MaxInt64

// Batch is the unit records move in: values with their event timestamps, side
// by side. Operators receive a *Batch and must not keep it after the call
// returns; whoever sent it may reuse it.
type Batch[T any] struct {
	Values []T
	Times  []int64
	// pointerFree records that T holds no pointers, so Reset need not zero.
	pointerFree bool
}

// NewBatch returns an empty batch with room for n records.
func NewBatch[T any](n int) *Batch[T] {
	return &Batch[T]{Values: make([]T, 0, n), Times: make([]int64, 0, n), pointerFree: !hasPointers[T]()}
}

// Len is the number of records in b.
func (b *Batch[T]) Len() int { return len(b.Values) }

// Append adds one record with event time ts (NoTimestamp if it has none).
func (b *Batch[T]) Append(ts int64, v T) {
	b.Values = append(b.Values, v)
	b.Times = append(b.Times, ts)
}

// Reset empties b, keeping its capacity. Values holding pointers are zeroed
// so that a reused batch does not keep old records reachable.
func (b *Batch[T]) Reset() {
	if !b.pointerFree {
		clear(b.Values)
	}
	b.Values = b.Values[:0]
	b.Times = b.Times[:0]
}

// pointerFree caches, per record type, whether it holds no pointers.
var pointerFree sync.Map // reflect.Type -> bool

// hasPointers reports whether values of T may hold pointers.
func hasPointers[T any]() bool {
	t := reflect.TypeFor[T]()
	if v, ok := pointerFree.Load(t); ok {
		return !v.(bool)
	}
	free := isPointerFree(t)
	pointerFree.Store(t, free)
	return !free
}

func isPointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || isPointerFree(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if !isPointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
