package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/loom-yarn/loom/codec"
)

// Both backends write the same entries for the same state, so a snapshot of
// one restores into the other:
//   - value state: UserKey empty, Value the value's encoding;
//   - list state: one entry per element, UserKey an 8-byte big-endian
//     sequence giving the element order, Value the element's encoding;
//   - map state: UserKey the map key's encoding, Value the map value's;
//   - timers: UserKey 24 bytes (time, namespace start, namespace end as
//     order-preserving big-endian), Value empty.

const (
	listSeqLen  = 8
	timerKeyLen = 24
)

func appendListSeq(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }

// appendOrderedInt64 appends v so that byte order is numeric order.
func appendOrderedInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

func orderedInt64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

func appendTimerUserKey(dst []byte, ts int64, ns Namespace) []byte {
	dst = appendOrderedInt64(dst, ts)
	dst = appendOrderedInt64(dst, ns.Start)
	return appendOrderedInt64(dst, ns.End)
}

func decodeTimerUserKey(b []byte) (int64, Namespace) {
	return orderedInt64(b), Namespace{Start: orderedInt64(b[8:]), End: orderedInt64(b[16:])}
}

// decodeWhole decodes a value that must fill b exactly.
func decodeWhole[T any](c codec.Codec[T], b []byte) (T, error) {
	v, n, err := c.Decode(b)
	if err == nil && n != len(b) {
		err = fmt.Errorf("%d trailing bytes", len(b)-n)
	}
	return v, err
}

// entryRun is one in-memory state's entries for a snapshot, packed into one
// arena so that a large heap state costs a few allocations, not one per entry.
type entryRun struct {
	state string
	arena []byte
	ents  []runEntry
}

type span struct{ off, n int }

type runEntry struct {
	kg           int
	key, uk, val span
}

func (r *entryRun) put(b []byte) span {
	s := span{off: len(r.arena), n: len(b)}
	r.arena = append(r.arena, b...)
	return s
}

func (r *entryRun) bytes(s span) []byte { return r.arena[s.off : s.off+s.n : s.off+s.n] }

// add copies one entry into the run.
func (r *entryRun) add(kg int, key, uk, val []byte) {
	r.ents = append(r.ents, runEntry{kg: kg, key: r.put(key), uk: r.put(uk), val: r.put(val)})
}

// sort orders the run by key group, then key, then user key: the order a
// snapshot needs, and a deterministic one.
func (r *entryRun) sort() {
	slices.SortFunc(r.ents, func(a, b runEntry) int {
		if a.kg != b.kg {
			return a.kg - b.kg
		}
		if c := bytes.Compare(r.bytes(a.key), r.bytes(b.key)); c != 0 {
			return c
		}
		return bytes.Compare(r.bytes(a.uk), r.bytes(b.uk))
	})
}

func (r *entryRun) entry(i int) Entry {
	e := r.ents[i]
	return Entry{KeyGroup: e.kg, State: r.state, Key: r.bytes(e.key), UserKey: r.bytes(e.uk), Value: r.bytes(e.val)}
}

// runMerger writes several sorted runs to a SnapshotWriter ordered by key
// group, interleaving them with entries the caller writes itself (the LSM
// backend's store, already in key-group order).
type runMerger struct {
	w    SnapshotWriter
	runs []*entryRun
	pos  []int
}

func newRunMerger(w SnapshotWriter, runs []*entryRun) *runMerger {
	return &runMerger{w: w, runs: runs, pos: make([]int, len(runs))}
}

// writeBefore writes every run entry whose key group is below bound, one key
// group at a time across all runs.
func (m *runMerger) writeBefore(bound int) error {
	for {
		next := bound
		for i, r := range m.runs {
			if p := m.pos[i]; p < len(r.ents) && r.ents[p].kg < next {
				next = r.ents[p].kg
			}
		}
		if next == bound {
			return nil
		}
		for i, r := range m.runs {
			for m.pos[i] < len(r.ents) && r.ents[m.pos[i]].kg == next {
				if err := m.w.WriteEntry(r.entry(m.pos[i])); err != nil {
					return fmt.Errorf("write snapshot entry of state %q: %w", r.state, err)
				}
				m.pos[i]++
			}
		}
	}
}

func (m *runMerger) writeRest() error { return m.writeBefore(math.MaxInt) }

// checkRestored validates an entry read from a snapshot against the backend
// it is restored into: a wrong key group means the snapshot was filtered for
// another subtask or written with another max parallelism.
func checkRestored(e Entry, kgs KeyGroupRange, maxParallelism int) error {
	if e.State == "" {
		return fmt.Errorf("restore: entry in key group %d has no state name", e.KeyGroup)
	}
	if !kgs.Contains(e.KeyGroup) {
		return fmt.Errorf("restore state %q: entry of key group %d is outside this subtask's key groups %v", e.State, e.KeyGroup, kgs)
	}
	if kg := KeyGroupOf(e.Key, maxParallelism); kg != e.KeyGroup {
		return fmt.Errorf("restore state %q: key %x is tagged key group %d but hashes to %d with max parallelism %d: the snapshot was taken with another max parallelism, which cannot change across restores", e.State, e.Key, e.KeyGroup, kg, maxParallelism)
	}
	return nil
}

// copyEntry returns e with its own copies of the byte slices.
func copyEntry(e Entry) Entry {
	buf := make([]byte, 0, len(e.Key)+len(e.UserKey)+len(e.Value))
	buf = append(buf, e.Key...)
	buf = append(buf, e.UserKey...)
	buf = append(buf, e.Value...)
	k, u := len(e.Key), len(e.Key)+len(e.UserKey)
	e.Key, e.UserKey, e.Value = buf[:k:k], buf[k:u:u], buf[u:]
	return e
}

// sortEntries orders restored entries by key, then user key, so that list
// elements come back in sequence order.
func sortEntries(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return bytes.Compare(a.UserKey, b.UserKey)
	})
}
