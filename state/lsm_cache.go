package state

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// lsmCacheEntries bounds the entries each LSM value state, and each LSM map
// state, holds in its write-back cache. An entry costs about 100 bytes of Go
// memory beyond its key and value, so the default holds a hot set of tens of
// thousands of keys in a few MiB per state. A variable so that tests can make
// the cache evict between every kind of operation.
var lsmCacheEntries = 1 << 16

// The write-back cache keeps each recently used store key's latest value in
// a Go map, so that a read-modify-write of a hot key is two map operations
// instead of a search of the write batch's skiplist and a new version in it.
// A miss reads through to the batch and caches what it found, absence
// included. Writes stay in the cache, marked dirty, until the cache is full
// or something must read the store itself (a snapshot, an iterator over the
// state): then the dirty entries go into the batch in key order, one version
// per key.
//
// The cache holds encoded values, as the batch does: a value read is decoded
// afresh each time and a value written is encoded at once, so what the state
// returns never aliases what it holds, as before the cache, and snapshots
// and write-backs copy bytes. Caching decoded values would save little:
// profiled, decoding and encoding are about a sixth of a cached int64
// read-modify-write; hashing the key for the map lookups is most of it.
//
// Whatever writes the store behind the cache's back must drop the entries it
// overwrites: map Clear drops the key's entries before deleting its range.

// cacheEntry is the latest value of one store key.
type cacheEntry struct {
	val     []byte // encoding of the value; empty when !present
	present bool   // false: the key has no value (never written, or deleted)
	dirty   bool   // not yet written to the batch
}

// cachedEntries maps store keys, or the parts of them after a common prefix,
// to their entries.
type cachedEntries map[string]*cacheEntry

// keyedEntry is a cache entry with its key, for writing entries in key
// order.
type keyedEntry struct {
	key string
	e   *cacheEntry
}

// writeDirty writes the dirty entries of es, keys prefixed by prefix, to
// batch in key order and marks them clean. scratch and buf are reused
// across calls.
func (es cachedEntries) writeDirty(batch *pebble.Batch, prefix []byte, scratch *[]keyedEntry, buf *[]byte) error {
	ks := (*scratch)[:0]
	for k, e := range es {
		if e.dirty {
			ks = append(ks, keyedEntry{k, e})
		}
	}
	err := writeBack(batch, prefix, ks, buf)
	clear(ks) // drop the references
	*scratch = ks[:0]
	return err
}

// evictHalf returns a map holding about half of es's entries, after
// writing the dirty ones among the others to batch in key order. Map
// iteration order is arbitrary, so this is random eviction: a key read or
// written often is soon cached again. The entries kept stay dirty, so a hot
// key is not written at every eviction. They move to a new map because
// deleting half of a Go map's entries leaves markers that slow every later
// lookup.
func (es cachedEntries) evictHalf(batch *pebble.Batch, scratch *[]keyedEntry, buf *[]byte) (cachedEntries, error) {
	evict := (len(es) + 1) / 2
	kept := make(cachedEntries, len(es))
	ks := (*scratch)[:0]
	for k, e := range es {
		if evict == 0 {
			kept[k] = e
			continue
		}
		evict--
		if e.dirty {
			ks = append(ks, keyedEntry{k, e})
		}
	}
	err := writeBack(batch, nil, ks, buf)
	clear(ks)
	*scratch = ks[:0]
	return kept, err
}

// writeBack writes the entries ks, dirty, with their keys prefixed by
// prefix, to batch in key order and marks them clean. It sorts ks.
func writeBack(batch *pebble.Batch, prefix []byte, ks []keyedEntry, buf *[]byte) error {
	slices.SortFunc(ks, func(a, b keyedEntry) int { return strings.Compare(a.key, b.key) })
	for _, ke := range ks {
		*buf = append(append((*buf)[:0], prefix...), ke.key...)
		var err error
		if ke.e.present {
			err = batch.Set(*buf, ke.e.val, nil)
		} else {
			err = batch.Delete(*buf, nil)
		}
		if err != nil {
			return err
		}
		ke.e.dirty = false
	}
	return nil
}

// set records val (when present) as the latest value of e, marking it dirty.
func (e *cacheEntry) set(val []byte, present bool) {
	e.val = append(e.val[:0], val...)
	e.present = present
	e.dirty = true
}

// newCacheEntry is the entry of a store key just read from the store, or
// first written.
func newCacheEntry(val []byte, present, dirty bool) *cacheEntry {
	e := &cacheEntry{present: present, dirty: dirty}
	if present {
		e.val = append(make([]byte, 0, len(val)), val...)
	}
	return e
}

// cachedState is an LSM state with a write-back cache; the backend writes
// every cached state's dirty entries before a snapshot.
type cachedState interface {
	writeCache() error
}

// writeCaches writes every cached state's dirty entries to the batch.
func (b *lsmBackend) writeCaches() error {
	for _, s := range b.cached {
		if err := s.writeCache(); err != nil {
			return err
		}
	}
	return nil
}

// valueCache is the write-back cache of a value state, keyed by whole store
// key.
type valueCache struct {
	es cachedEntries
	// last is the entry of store key lastKey, the last one looked up: a
	// read-modify-write finds it again without a second map lookup. It is
	// cleared when entries are evicted.
	last    *cacheEntry
	lastKey []byte
	keys    []keyedEntry
	buf     []byte
}

// lookup returns the cached entry of store key k, or nil.
func (c *valueCache) lookup(k []byte) *cacheEntry {
	if c.last != nil && bytes.Equal(k, c.lastKey) {
		return c.last
	}
	e := c.es[string(k)]
	if e != nil {
		c.remember(k, e)
	}
	return e
}

func (c *valueCache) remember(k []byte, e *cacheEntry) {
	c.last = e
	c.lastKey = append(c.lastKey[:0], k...)
}

func (s *lsmValue[K, V]) writeCache() error {
	c := &s.cache
	if err := c.es.writeDirty(s.b.batch, nil, &c.keys, &c.buf); err != nil {
		return fmt.Errorf("state %q: write cached values: %w", s.name, err)
	}
	if err := s.b.written(); err != nil {
		return fmt.Errorf("state %q: write cached values: %w", s.name, err)
	}
	return nil
}

// entry returns the cache entry of store key k, reading it from the store on
// a miss.
func (s *lsmValue[K, V]) entry(k []byte) (*cacheEntry, error) {
	if e := s.cache.lookup(k); e != nil {
		return e, nil
	}
	raw, closer, err := s.b.batch.Get(k)
	switch {
	case err == pebble.ErrNotFound:
		return s.insert(k, newCacheEntry(nil, false, false))
	case err != nil:
		return nil, s.errorf("read", err)
	}
	e := newCacheEntry(raw, true, false)
	closer.Close()
	return s.insert(k, e)
}

// insert caches e under k, which is not cached, first making room.
func (s *lsmValue[K, V]) insert(k []byte, e *cacheEntry) (*cacheEntry, error) {
	c := &s.cache
	if len(c.es) >= lsmCacheEntries {
		c.last = nil
		kept, err := c.es.evictHalf(s.b.batch, &c.keys, &c.buf)
		if err != nil {
			return nil, fmt.Errorf("state %q: evict cached values: %w", s.name, err)
		}
		c.es = kept
		if err := s.b.written(); err != nil {
			return nil, fmt.Errorf("state %q: evict cached values: %w", s.name, err)
		}
	}
	if c.es == nil {
		c.es = cachedEntries{}
		s.b.cached = append(s.b.cached, s)
	}
	c.es[string(k)] = e
	c.remember(k, e)
	return e, nil
}

// write makes val (when present) the current key's value.
func (s *lsmValue[K, V]) write(op string, val []byte, present bool) error {
	k, err := s.storeKey()
	if err != nil {
		return err
	}
	if e := s.cache.lookup(k); e != nil {
		e.set(val, present)
		return nil
	}
	if _, err := s.insert(k, newCacheEntry(val, present, true)); err != nil {
		return s.errorf(op, err)
	}
	return nil
}

// mapCache is the write-back cache of a map state: per key (store key
// prefix), the entries by encoded map key, so that Range, IsEmpty and Clear
// find one key's entries without a scan.
type mapCache struct {
	keys map[string]*keyEntries
	n    int // entries over all keys
	// last holds the entries of key prefix lastPrefix, the last ones looked
	// up, as valueCache.last does. It is cleared when keys are dropped.
	last       *keyEntries
	lastPrefix []byte
	// scratch space reused across calls
	victims []string
	sorted  []keyedEntry
	prefix  []byte
	buf     []byte
}

// lookup returns the cached entries of key prefix p, or nil.
func (c *mapCache) lookup(p []byte) *keyEntries {
	if c.last != nil && bytes.Equal(p, c.lastPrefix) {
		return c.last
	}
	ke := c.keys[string(p)]
	if ke != nil {
		c.last = ke
		c.lastPrefix = append(c.lastPrefix[:0], p...)
	}
	return ke
}

// keyEntries are the cached entries of one key's map.
type keyEntries struct {
	es    cachedEntries
	dirty bool // some entries are dirty
}

func (s *lsmMap[K, UK, UV]) writeCache() error {
	for p, ke := range s.cache.keys {
		if err := s.writeKey(p, ke); err != nil {
			return err
		}
	}
	return nil
}

// writeKey writes the dirty entries of ke, the entries of key prefix p, to
// the batch.
func (s *lsmMap[K, UK, UV]) writeKey(p string, ke *keyEntries) error {
	if ke == nil || !ke.dirty {
		return nil
	}
	c := &s.cache
	c.prefix = append(c.prefix[:0], p...)
	if err := ke.es.writeDirty(s.b.batch, c.prefix, &c.sorted, &c.buf); err != nil {
		return fmt.Errorf("state %q: write cached map entries: %w", s.name, err)
	}
	ke.dirty = false
	if err := s.b.written(); err != nil {
		return fmt.Errorf("state %q: write cached map entries: %w", s.name, err)
	}
	return nil
}

// makeRoom evicts the entries of keys picked at random, about half of all
// entries, once the cache is full; it writes their dirty entries first, in
// key order.
func (s *lsmMap[K, UK, UV]) makeRoom() error {
	c := &s.cache
	if c.n < lsmCacheEntries {
		return nil
	}
	// As in evictHalf, the keys kept move to a new map.
	c.last = nil
	victims := c.victims[:0]
	kept := make(map[string]*keyEntries, len(c.keys))
	for p, ke := range c.keys {
		if c.n > lsmCacheEntries/2 {
			c.n -= len(ke.es)
			victims = append(victims, p)
		} else {
			kept[p] = ke
		}
	}
	slices.SortFunc(victims, strings.Compare)
	for _, p := range victims {
		if err := s.writeKey(p, c.keys[p]); err != nil {
			return err
		}
	}
	c.keys = kept
	clear(victims)
	c.victims = victims[:0]
	return nil
}

// mapEntry returns the cache entry of the map key encoded in k after prefix
// p, the current key's store key, reading it from the store on a miss.
func (s *lsmMap[K, UK, UV]) mapEntry(p []byte, k []byte) (*cacheEntry, error) {
	uk := k[len(p):]
	if ke := s.cache.lookup(p); ke != nil {
		if e := ke.es[string(uk)]; e != nil {
			return e, nil
		}
	}
	raw, closer, err := s.b.batch.Get(k)
	var e *cacheEntry
	switch {
	case err == pebble.ErrNotFound:
		e = newCacheEntry(nil, false, false)
	case err != nil:
		return nil, s.errorf("read", err)
	default:
		e = newCacheEntry(raw, true, false)
		closer.Close()
	}
	if err := s.insertEntry(p, uk, e); err != nil {
		return nil, err
	}
	return e, nil
}

// insertEntry caches e under map key uk of key prefix p; uk is not cached.
func (s *lsmMap[K, UK, UV]) insertEntry(p, uk []byte, e *cacheEntry) error {
	if err := s.makeRoom(); err != nil {
		return err
	}
	c := &s.cache
	if c.keys == nil {
		c.keys = map[string]*keyEntries{}
		s.b.cached = append(s.b.cached, s)
	}
	ke := c.lookup(p)
	if ke == nil {
		ke = &keyEntries{es: cachedEntries{}}
		c.keys[string(p)] = ke
	}
	ke.es[string(uk)] = e
	ke.dirty = ke.dirty || e.dirty
	c.n++
	return nil
}

// writeEntry makes val (when present) the value of the map key encoded in k
// after the current key's prefix p.
func (s *lsmMap[K, UK, UV]) writeEntry(op string, p, k, val []byte, present bool) error {
	uk := k[len(p):]
	if ke := s.cache.lookup(p); ke != nil {
		if e := ke.es[string(uk)]; e != nil {
			e.set(val, present)
			ke.dirty = true
			return nil
		}
	}
	if err := s.insertEntry(p, uk, newCacheEntry(val, present, true)); err != nil {
		return s.errorf(op, err)
	}
	return nil
}

// flushKey writes the dirty entries of the current key, prefix p, to the
// batch, for a read of the store.
func (s *lsmMap[K, UK, UV]) flushKey(p []byte) error {
	ke := s.cache.lookup(p)
	if ke == nil || !ke.dirty {
		return nil
	}
	return s.writeKey(string(p), ke)
}

// dropKey forgets the cached entries of key prefix p, dirty ones included:
// the caller deletes the key's whole range from the store.
func (s *lsmMap[K, UK, UV]) dropKey(p []byte) {
	c := &s.cache
	c.last = nil
	if ke, ok := c.keys[string(p)]; ok {
		c.n -= len(ke.es)
		delete(c.keys, string(p))
	}
}
