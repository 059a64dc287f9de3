package state

import (
	"fmt"
)

// kind is what a registered state is; a name keeps its kind for the life of
// a backend.
type kind uint8

const (
	kindValue kind = iota + 1
	kindList
	kindMap
	kindTimers
)

func (k kind) String() string {
	switch k {
	case kindValue:
		return "value state"
	case kindList:
		return "list state"
	case kindMap:
		return "map state"
	case kindTimers:
		return "timers"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// memState is state held in Go memory (all heap states, and timers in both
// backends): the backend asks it for its entries at snapshot time.
type memState interface {
	snapshotRun() (*entryRun, error)
}

type registration struct {
	kind kind
	kc   any // the *KeyContext the state reads its key from
	impl any // the typed state, returned again to a second registration of the same name and types
}

// registry is the part of a backend that both implementations share: which
// names are registered as what, and the in-memory states to snapshot.
type registry struct {
	kgs            KeyGroupRange
	maxParallelism int
	byName         map[string]registration
	mem            []memState // in registration order
	memNames       []string
}

func newRegistry(kgs KeyGroupRange, maxParallelism int) registry {
	if err := CheckParallelism(maxParallelism, 1); err != nil {
		panic("state: " + err.Error())
	}
	if kgs.Start < 0 || kgs.End > maxParallelism || kgs.Start >= kgs.End {
		panic(fmt.Sprintf("state: key groups %v are not a non-empty range within [0, %d)", kgs, maxParallelism))
	}
	return registry{kgs: kgs, maxParallelism: maxParallelism, byName: map[string]registration{}}
}

// internal is what typed states need from a backend beyond Backend.
type internal interface {
	Backend
	registry() *registry
	// takeRestored returns, and removes from the backend's store, the
	// restored entries of a state held in memory. It is called once, when
	// the state registers.
	takeRestored(name string) ([]Entry, error)
}

// lookup checks that a state can be registered under name with kind k and key
// context kc. It returns the typed state already registered under that name
// with the same kind, key context and types, if any.
func lookup[S any, K comparable](b Backend, kc *KeyContext[K], name string, k kind) (internal, S, bool, error) {
	var zero S
	ib, ok := b.(internal)
	if !ok {
		return nil, zero, false, unknownBackend(name, b)
	}
	if name == "" {
		return nil, zero, false, fmt.Errorf("register %v: empty state name", k)
	}
	r := ib.registry()
	if r.byName == nil {
		return nil, zero, false, fmt.Errorf("register state %q: backend is closed", name)
	}
	if kc == nil {
		return nil, zero, false, fmt.Errorf("register state %q: nil key context", name)
	}
	if kc.maxParallelism != r.maxParallelism {
		return nil, zero, false, fmt.Errorf("register state %q: key context has max parallelism %d, backend %d", name, kc.maxParallelism, r.maxParallelism)
	}
	reg, ok := r.byName[name]
	if !ok {
		return ib, zero, false, nil
	}
	if reg.kind != k {
		return nil, zero, false, fmt.Errorf("register state %q as %v: it is already registered as %v; give each state its own name", name, k, reg.kind)
	}
	s, ok := reg.impl.(S)
	if !ok || reg.kc != any(kc) {
		return nil, zero, false, fmt.Errorf("register state %q: it is already registered as %v with another key context or other value types", name, k)
	}
	return ib, s, true, nil
}

func (r *registry) add(name string, k kind, kc any, impl any, mem memState) {
	r.byName[name] = registration{kind: k, kc: kc, impl: impl}
	if mem != nil {
		r.mem = append(r.mem, mem)
		r.memNames = append(r.memNames, name)
	}
}

// memRuns collects the snapshot runs of the in-memory states.
func (r *registry) memRuns() ([]*entryRun, error) {
	runs := make([]*entryRun, 0, len(r.mem))
	for i, m := range r.mem {
		run, err := m.snapshotRun()
		if err != nil {
			return nil, fmt.Errorf("snapshot %q: %w", r.memNames[i], err)
		}
		runs = append(runs, run)
	}
	return runs, nil
}

func unknownBackend(name string, b Backend) error {
	return fmt.Errorf("state %q: backend %T is not a loom state backend (use state.NewHeap or state.NewLSM)", name, b)
}
