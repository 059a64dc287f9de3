package state

import (
	"github.com/loom-yarn/loom/codec"
)

// ValueState is one value per key.
type ValueState[V any] interface {
	// Value is the current key's value; ok is false when it has none.
	Value() (v V, ok bool, err error)
	// Update sets the current key's value.
	Update(v V) error
	// Clear removes the current key's value.
	Clear() error
}

// ListState is a list of values per key, appended to cheaply.
type ListState[V any] interface {
	// Get is the current key's list in insertion order (nil when empty).
	// The caller owns the returned slice.
	Get() ([]V, error)
	// Add appends v to the current key's list without reading it.
	Add(v V) error
	// Update replaces the current key's list; an empty vs clears it.
	Update(vs []V) error
	// Clear removes the current key's list.
	Clear() error
}

// MapState is a map per key.
type MapState[UK comparable, UV any] interface {
	// Get is the value of uk in the current key's map.
	Get(uk UK) (uv UV, ok bool, err error)
	// Put sets uk to uv in the current key's map.
	Put(uk UK, uv UV) error
	// Remove deletes uk from the current key's map.
	Remove(uk UK) error
	// Range calls fn for each entry of the current key's map, in no
	// particular order, until fn returns an error, which Range returns. fn
	// must not modify this map state.
	Range(fn func(uk UK, uv UV) error) error
	// IsEmpty reports whether the current key's map has no entries.
	IsEmpty() (bool, error)
	// Clear removes the current key's whole map.
	Clear() error
}

// The constructors below register a state under name ("<operator uid>/<state
// name>", unique per backend) for the keys of kc. A second registration of
// the same name with the same kind, key context and types returns the same
// state; any other reuse of a name is an error naming it. Entries restored
// for name are applied at registration.

// NewValue registers a value state with values encoded by vc.
func NewValue[K comparable, V any](b Backend, kc *KeyContext[K], name string, vc codec.Codec[V]) (ValueState[V], error) {
	ib, s, found, err := lookup[ValueState[V]](b, kc, name, kindValue)
	if err != nil || found {
		return s, err
	}
	switch be := ib.(type) {
	case *heapBackend:
		hs := &heapValue[K, V]{heapKeyed: heapKeyed[K]{kc: kc, name: name, kgs: be.reg.kgs}, vc: vc, m: map[K]V{}}
		if err := registerHeap(be, kc, name, kindValue, hs); err != nil {
			return nil, err
		}
		return hs, nil
	case *lsmBackend:
		l, err := newLSMKeyed(be, kc, name, kindValue)
		if err != nil {
			return nil, err
		}
		ls := &lsmValue[K, V]{lsmKeyed: l, vc: vc}
		be.reg.add(name, kindValue, kc, ls, nil)
		return ls, nil
	}
	return nil, unknownBackend(name, b)
}

// NewList registers a list state with elements encoded by vc.
func NewList[K comparable, V any](b Backend, kc *KeyContext[K], name string, vc codec.Codec[V]) (ListState[V], error) {
	ib, s, found, err := lookup[ListState[V]](b, kc, name, kindList)
	if err != nil || found {
		return s, err
	}
	switch be := ib.(type) {
	case *heapBackend:
		hs := &heapList[K, V]{heapKeyed: heapKeyed[K]{kc: kc, name: name, kgs: be.reg.kgs}, vc: vc, m: map[K][]V{}}
		if err := registerHeap(be, kc, name, kindList, hs); err != nil {
			return nil, err
		}
		return hs, nil
	case *lsmBackend:
		l, err := newLSMKeyed(be, kc, name, kindList)
		if err != nil {
			return nil, err
		}
		ls := &lsmList[K, V]{lsmKeyed: l, vc: vc}
		be.reg.add(name, kindList, kc, ls, nil)
		return ls, nil
	}
	return nil, unknownBackend(name, b)
}

// NewMap registers a map state with map keys encoded by ukc (canonical, as
// for keys) and map values by uvc.
func NewMap[K comparable, UK comparable, UV any](b Backend, kc *KeyContext[K], name string, ukc codec.Codec[UK], uvc codec.Codec[UV]) (MapState[UK, UV], error) {
	ib, s, found, err := lookup[MapState[UK, UV]](b, kc, name, kindMap)
	if err != nil || found {
		return s, err
	}
	switch be := ib.(type) {
	case *heapBackend:
		hs := &heapMap[K, UK, UV]{heapKeyed: heapKeyed[K]{kc: kc, name: name, kgs: be.reg.kgs}, ukc: ukc, uvc: uvc, m: map[K]map[UK]UV{}}
		if err := registerHeap(be, kc, name, kindMap, hs); err != nil {
			return nil, err
		}
		return hs, nil
	case *lsmBackend:
		l, err := newLSMKeyed(be, kc, name, kindMap)
		if err != nil {
			return nil, err
		}
		ls := &lsmMap[K, UK, UV]{lsmKeyed: l, ukc: ukc, uvc: uvc}
		be.reg.add(name, kindMap, kc, ls, nil)
		return ls, nil
	}
	return nil, unknownBackend(name, b)
}
