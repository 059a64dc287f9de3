// Package state is loom's keyed state: the contract every operator uses to keep
// per-key values, lists, maps and timers, and the two backends behind it (heap
// and an LSM store on Pebble).
//
// Keyed state is partitioned by key group: key -> hash of its encoded bytes ->
// key group in [0, maxParallelism) -> subtask. A backend owns a contiguous
// range of key groups; its snapshot is a stream of entries tagged with their key
// group, so a checkpoint can be restored at another parallelism by reading the
// entries of the key groups a subtask now owns.
package state

import "fmt"

// KeyGroupRange is the half-open range [Start, End) of key groups a subtask owns.
type KeyGroupRange struct{ Start, End int }

// Contains reports whether kg lies in r.
func (r KeyGroupRange) Contains(kg int) bool { return kg >= r.Start && kg < r.End }

// Len is the number of key groups in r.
func (r KeyGroupRange) Len() int { return r.End - r.Start }

func (r KeyGroupRange) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// Entry is one unit of a keyed-state snapshot. State names the state
// ("<operator uid>/<state name>"); Key is the key's codec encoding; UserKey is
// the map key (map state), an element sequence (list state) or a timer's time
// and namespace; Value is the encoded value (empty for timers and sets).
type Entry struct {
	KeyGroup int
	State    string
	Key      []byte
	UserKey  []byte
	Value    []byte
}

// SnapshotWriter receives a backend's entries. The writer copies what it keeps:
// the slices in e are only valid during the call.
type SnapshotWriter interface {
	WriteEntry(e Entry) error
}

// SnapshotReader yields the entries to restore, already filtered to the key
// groups of the backend being restored. ok is false at the end.
type SnapshotReader interface {
	Next() (e Entry, ok bool, err error)
}

// Backend holds the keyed state of one task (all keyed operators of its
// chain) for the key groups the task owns. It is used from the task goroutine
// only. Typed states are made with NewValue, NewList, NewMap and timers with
// NewTimers, all bound to a KeyContext that the operator points at the key of
// the record it processes.
type Backend interface {
	// Name is "heap" or "lsm".
	Name() string
	// KeyGroups is the range this backend owns.
	KeyGroups() KeyGroupRange
	// Restore loads entries of an earlier snapshot. It is called once, before
	// any state is registered; entries of states registered later are applied
	// at registration.
	Restore(r SnapshotReader) error
	// Snapshot writes every registered state's entries, ordered by key group.
	Snapshot(w SnapshotWriter) error
	// Close releases the backend's memory and files.
	Close() error
}
