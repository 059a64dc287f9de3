package state

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/loom-yarn/loom/codec"
)

// heapBackend keeps each state in a typed Go map keyed by the key itself, so
// a read or write is one map operation with no encoding. Key groups are
// computed from the encoded key only at snapshot time.
type heapBackend struct {
	reg registry
	// pending holds restored entries by state name until that state
	// registers; entries of states never registered are carried into the
	// next snapshot unchanged.
	pending map[string][]Entry
}

// NewHeap returns a backend holding state in Go memory for the key groups
// kgs of maxParallelism. It suits state that fits in memory and is the
// fastest backend. It panics if kgs is not a non-empty range within
// [0, maxParallelism).
func NewHeap(kgs KeyGroupRange, maxParallelism int) Backend {
	return &heapBackend{reg: newRegistry(kgs, maxParallelism), pending: map[string][]Entry{}}
}

func (b *heapBackend) Name() string             { return "heap" }
func (b *heapBackend) KeyGroups() KeyGroupRange { return b.reg.kgs }
func (b *heapBackend) registry() *registry      { return &b.reg }

func (b *heapBackend) Restore(r SnapshotReader) error {
	if len(b.reg.byName) > 0 {
		return fmt.Errorf("restore heap backend: states are already registered; restore must come first")
	}
	for {
		e, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("restore heap backend %v: %w", b.reg.kgs, err)
		}
		if !ok {
			return nil
		}
		if err := checkRestored(e, b.reg.kgs, b.reg.maxParallelism); err != nil {
			return err
		}
		b.pending[e.State] = append(b.pending[e.State], copyEntry(e))
	}
}

func (b *heapBackend) takeRestored(name string) ([]Entry, error) {
	es := b.pending[name]
	delete(b.pending, name)
	return es, nil
}

func (b *heapBackend) Snapshot(w SnapshotWriter) error {
	runs, err := b.reg.memRuns()
	if err != nil {
		return fmt.Errorf("snapshot heap backend %v: %w", b.reg.kgs, err)
	}
	names := make([]string, 0, len(b.pending))
	for name := range b.pending {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		run := &entryRun{state: name}
		for _, e := range b.pending[name] {
			run.add(e.KeyGroup, e.Key, e.UserKey, e.Value)
		}
		run.sort()
		runs = append(runs, run)
	}
	return newRunMerger(w, runs).writeRest()
}

func (b *heapBackend) Close() error {
	b.reg = registry{kgs: b.reg.kgs, maxParallelism: b.reg.maxParallelism}
	b.pending = nil
	return nil
}

// heapState is a typed state of the heap backend.
type heapState interface {
	memState
	restore(es []Entry) error
}

func registerHeap[K comparable](b *heapBackend, kc *KeyContext[K], name string, k kind, s heapState) error {
	es, err := b.takeRestored(name)
	if err != nil {
		return err
	}
	if err := s.restore(es); err != nil {
		return fmt.Errorf("restore %v %q: %w", k, name, err)
	}
	b.reg.add(name, k, kc, s, s)
	return nil
}

// heapKeyed is what every heap state shares: its key context and name.
type heapKeyed[K comparable] struct {
	kc   *KeyContext[K]
	name string
	kgs  KeyGroupRange
}

// keyScratch encodes keys at snapshot time.
type keyScratch struct{ key, uk, val []byte }

func (h *heapKeyed[K]) encodeKey(s *keyScratch, k K) int {
	s.key = h.kc.codec.Append(s.key[:0], k)
	return KeyGroupOf(s.key, h.kc.maxParallelism)
}

type heapValue[K comparable, V any] struct {
	heapKeyed[K]
	vc codec.Codec[V]
	m  map[K]V
}

func (s *heapValue[K, V]) Value() (V, bool, error) {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		var zero V
		return zero, false, err
	}
	v, ok := s.m[s.kc.key]
	return v, ok, nil
}

func (s *heapValue[K, V]) Update(v V) error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	s.m[s.kc.key] = v
	return nil
}

func (s *heapValue[K, V]) Clear() error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	delete(s.m, s.kc.key)
	return nil
}

func (s *heapValue[K, V]) snapshotRun() (*entryRun, error) {
	run := &entryRun{state: s.name, ents: make([]runEntry, 0, len(s.m))}
	var sc keyScratch
	for k, v := range s.m {
		kg := s.encodeKey(&sc, k)
		var err error
		if sc.val, err = codec.TryAppend(s.vc, sc.val[:0], v); err != nil {
			return nil, fmt.Errorf("snapshot state %s: %w", s.name, err)
		}
		run.add(kg, sc.key, nil, sc.val)
	}
	run.sort()
	return run, nil
}

func (s *heapValue[K, V]) restore(es []Entry) error {
	for _, e := range es {
		if len(e.UserKey) != 0 {
			return fmt.Errorf("entry of key %x has a user key %x, which value states do not have: was the state a list or a map before?", e.Key, e.UserKey)
		}
		k, err := s.kc.decodeKey(s.name, e.Key)
		if err != nil {
			return err
		}
		v, err := decodeWhole(s.vc, e.Value)
		if err != nil {
			return fmt.Errorf("key %v: decode value: %w", k, err)
		}
		s.m[k] = v
	}
	return nil
}

type heapList[K comparable, V any] struct {
	heapKeyed[K]
	vc codec.Codec[V]
	m  map[K][]V
}

func (s *heapList[K, V]) Get() ([]V, error) {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return nil, err
	}
	return slices.Clone(s.m[s.kc.key]), nil
}

func (s *heapList[K, V]) Add(v V) error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	s.m[s.kc.key] = append(s.m[s.kc.key], v)
	return nil
}

func (s *heapList[K, V]) Update(vs []V) error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	if len(vs) == 0 {
		delete(s.m, s.kc.key)
		return nil
	}
	s.m[s.kc.key] = slices.Clone(vs)
	return nil
}

func (s *heapList[K, V]) Clear() error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	delete(s.m, s.kc.key)
	return nil
}

func (s *heapList[K, V]) snapshotRun() (*entryRun, error) {
	run := &entryRun{state: s.name, ents: make([]runEntry, 0, len(s.m))}
	var sc keyScratch
	for k, vs := range s.m {
		kg := s.encodeKey(&sc, k)
		for i, v := range vs {
			sc.uk = appendListSeq(sc.uk[:0], uint64(i))
			var err error
			if sc.val, err = codec.TryAppend(s.vc, sc.val[:0], v); err != nil {
				return nil, fmt.Errorf("snapshot state %s: %w", s.name, err)
			}
			run.add(kg, sc.key, sc.uk, sc.val)
		}
	}
	run.sort()
	return run, nil
}

func (s *heapList[K, V]) restore(es []Entry) error {
	sortEntries(es)
	for _, e := range es {
		if len(e.UserKey) != listSeqLen {
			return fmt.Errorf("entry of key %x has user key %x, not an %d-byte list sequence: was the state a value or a map before?", e.Key, e.UserKey, listSeqLen)
		}
		k, err := s.kc.decodeKey(s.name, e.Key)
		if err != nil {
			return err
		}
		v, err := decodeWhole(s.vc, e.Value)
		if err != nil {
			return fmt.Errorf("key %v element %d: decode value: %w", k, binary.BigEndian.Uint64(e.UserKey), err)
		}
		s.m[k] = append(s.m[k], v)
	}
	return nil
}

type heapMap[K comparable, UK comparable, UV any] struct {
	heapKeyed[K]
	ukc codec.Codec[UK]
	uvc codec.Codec[UV]
	m   map[K]map[UK]UV
}

func (s *heapMap[K, UK, UV]) Get(uk UK) (UV, bool, error) {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		var zero UV
		return zero, false, err
	}
	uv, ok := s.m[s.kc.key][uk]
	return uv, ok, nil
}

func (s *heapMap[K, UK, UV]) Put(uk UK, uv UV) error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	inner := s.m[s.kc.key]
	if inner == nil {
		inner = map[UK]UV{}
		s.m[s.kc.key] = inner
	}
	inner[uk] = uv
	return nil
}

func (s *heapMap[K, UK, UV]) Remove(uk UK) error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	inner := s.m[s.kc.key]
	delete(inner, uk)
	if inner != nil && len(inner) == 0 {
		delete(s.m, s.kc.key)
	}
	return nil
}

func (s *heapMap[K, UK, UV]) Range(fn func(UK, UV) error) error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	for uk, uv := range s.m[s.kc.key] {
		if err := fn(uk, uv); err != nil {
			return err
		}
	}
	return nil
}

func (s *heapMap[K, UK, UV]) IsEmpty() (bool, error) {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return false, err
	}
	return len(s.m[s.kc.key]) == 0, nil
}

func (s *heapMap[K, UK, UV]) Clear() error {
	if err := s.kc.check(s.name, s.kgs); err != nil {
		return err
	}
	delete(s.m, s.kc.key)
	return nil
}

func (s *heapMap[K, UK, UV]) snapshotRun() (*entryRun, error) {
	run := &entryRun{state: s.name, ents: make([]runEntry, 0, len(s.m))}
	var sc keyScratch
	for k, inner := range s.m {
		kg := s.encodeKey(&sc, k)
		for uk, uv := range inner {
			var err error
			if sc.uk, err = codec.TryAppend(s.ukc, sc.uk[:0], uk); err != nil {
				return nil, fmt.Errorf("snapshot state %s: %w", s.name, err)
			}
			if sc.val, err = codec.TryAppend(s.uvc, sc.val[:0], uv); err != nil {
				return nil, fmt.Errorf("snapshot state %s: %w", s.name, err)
			}
			run.add(kg, sc.key, sc.uk, sc.val)
		}
	}
	run.sort()
	return run, nil
}

func (s *heapMap[K, UK, UV]) restore(es []Entry) error {
	for _, e := range es {
		k, err := s.kc.decodeKey(s.name, e.Key)
		if err != nil {
			return err
		}
		uk, err := decodeWhole(s.ukc, e.UserKey)
		if err != nil {
			return fmt.Errorf("key %v: decode map key %x: %w (was the state a value or a list before?)", k, e.UserKey, err)
		}
		uv, err := decodeWhole(s.uvc, e.Value)
		if err != nil {
			return fmt.Errorf("key %v map key %v: decode value: %w", k, uk, err)
		}
		inner := s.m[k]
		if inner == nil {
			inner = map[UK]UV{}
			s.m[k] = inner
		}
		inner[uk] = uv
	}
	return nil
}
