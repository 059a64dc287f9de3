package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/loom-yarn/loom/codec"
)

// The LSM backend keeps every value, list element and map entry as one Pebble
// key:
//
//	keyGroup (2 bytes, big endian) | stateID (4 bytes) | uvarint(len key) | key | userKey
//
// Key groups lead, so a snapshot iterating in key order is already ordered by
// key group and a key group's entries are contiguous. The length prefix keeps
// one key's entries from sharing a prefix with another key's. The state ID is
// a hash of the state name; two names with one ID are refused.
const (
	storePrefixLen = 6 // key group and state ID

	// lsmMemTableSize and lsmCacheSize are sized for a 2-core worker running
	// a few stateful tasks: large enough to absorb bursts of updates, small
	// enough that several backends fit in a container.
	lsmMemTableSize = 16 << 20
	lsmCacheSize    = 32 << 20
	// restoreBatchSize bounds the memory a restore holds before committing.
	restoreBatchSize = 4 << 20
	// lsmMaxManifestSize is where Pebble rolls its MANIFEST over (see openLSM).
	lsmMaxManifestSize = 1 << 20
)

// lsmFlushSize is the batch size (bytes of batch representation) at which a
// backend commits its write batch. A commit costs a trip through Pebble's
// commit pipeline (several µs) however small the batch, so committing every
// write made each state update cost that; a few MiB amortize it to
// nanoseconds. Larger batches make each lookup in the batch's skiplist
// slower. Small entries (a counter is ~25 bytes of batch) exceed Pebble's
// large-batch threshold (half the memtable, counting ~200 bytes of skiplist
// node per entry) well below this size, so the commit hands the batch over as
// a memtable of its own instead of inserting every entry into the current
// one; measured, that is the cheaper path for read-modify-write state. A
// variable so that tests can cross it often.
var lsmFlushSize = 4 << 20

// lsmBackend keeps state in a Pebble store on local disk, for state larger
// than memory. It writes without a WAL or fsync: checkpoints, not the local
// store, make state durable, and a failed task restores from a checkpoint
// into a fresh directory.
//
// Every state write goes into one indexed batch, and every read goes through
// it (batch.Get, batch.NewIter see the batch over the DB), so a write costs an
// append and a skiplist insert; the batch is committed when it reaches
// lsmFlushSize and before a snapshot. Value and map states put a write-back
// cache in front of the batch (lsm_cache.go).
type lsmBackend struct {
	reg   registry
	db    *pebble.DB
	batch *pebble.Batch
	// iters counts open iterators that run user code (Range): while one is
	// open the batch is not committed, because a commit recycles the batch
	// the iterator reads. The batch grows past lsmFlushSize instead.
	iters int
	dir   string
	// ids maps each state ID in the store to its state name, from
	// registrations and restored entries.
	ids map[uint32]string
	// restored marks state IDs that have restored entries in the store.
	restored map[uint32]bool
	// restoredSeq is, per restored state, one past the largest 8-byte user
	// key, so that list elements added after a restore sort after the
	// restored ones.
	restoredSeq map[string]uint64
	// seq numbers list elements; it only grows, so Add never reads.
	seq uint64
	// cached are the states with a write-back cache (lsm_cache.go), in the
	// order of their first cached entry.
	cached []cachedState
}

// NewLSM opens a backend storing state in a new Pebble store in dir for the
// key groups kgs of maxParallelism. dir must not exist or be empty; Close
// removes it.
func NewLSM(dir string, kgs KeyGroupRange, maxParallelism int) (Backend, error) {
	if err := makeLSMDir(dir, kgs, maxParallelism); err != nil {
		return nil, err
	}
	return openLSM(dir, kgs, maxParallelism)
}

// makeLSMDir checks the arguments of a new backend and creates its empty
// directory.
func makeLSMDir(dir string, kgs KeyGroupRange, maxParallelism int) error {
	if err := CheckParallelism(maxParallelism, 1); err != nil {
		return fmt.Errorf("open lsm state backend in %s: %w", dir, err)
	}
	if kgs.Start < 0 || kgs.End > maxParallelism || kgs.Start >= kgs.End {
		return fmt.Errorf("open lsm state backend in %s: key groups %v are not a non-empty range within [0, %d)", dir, kgs, maxParallelism)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("open lsm state backend: directory %s is not empty; it may belong to another task: give each task its own directory, or remove it", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("open lsm state backend: %w", err)
	}
	return nil
}

// lsmTestOptions, when set, adjusts the Pebble options of every backend
// opened afterwards: tests use it to disable compactions or listen to them.
var lsmTestOptions func(*pebble.Options)

// openLSM opens the Pebble store in dir, new or restored from a checkpoint
// (lsm_incremental.go), as the store of a backend for key groups kgs.
func openLSM(dir string, kgs KeyGroupRange, maxParallelism int) (*lsmBackend, error) {
	cache := pebble.NewCache(lsmCacheSize)
	defer cache.Unref()
	opts := &pebble.Options{
		DisableWAL:                 true,
		MemTableSize:               lsmMemTableSize,
		Cache:                      cache,
		Logger:                     quietLogger{},
		CompactionConcurrencyRange: func() (int, int) { return 1, 2 },
		// An incremental checkpoint copies the whole MANIFEST, which grows
		// by every flush and compaction until Pebble rolls it over (by
		// default at 128 MiB); rolling over past 1 MiB keeps the copy small.
		// Pebble also waits until the edits since the last rollover name as
		// many files as the store has, so a rollover stays rare.
		MaxManifestFileSize: lsmMaxManifestSize,
	}
	if lsmTestOptions != nil {
		lsmTestOptions(opts)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open lsm state backend in %s: %w", dir, err)
	}
	return &lsmBackend{
		reg:         newRegistry(kgs, maxParallelism),
		db:          db,
		batch:       newLSMBatch(db),
		dir:         dir,
		ids:         map[uint32]string{},
		restored:    map[uint32]bool{},
		restoredSeq: map[string]uint64{},
	}, nil
}

// newLSMBatch makes a write batch.
func newLSMBatch(db *pebble.DB) *pebble.Batch {
	return db.NewIndexedBatch()
}

// written is called after each state write: it commits the batch once it has
// reached lsmFlushSize.
func (b *lsmBackend) written() error {
	if b.batch.Len() < lsmFlushSize || b.iters > 0 {
		return nil
	}
	return b.flush()
}

// flush commits the write batch and starts a new one. It must not run while
// an iterator over the batch is open.
func (b *lsmBackend) flush() error {
	if b.batch.Empty() {
		return nil
	}
	if err := b.batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("lsm state backend %v: commit write batch: %w", b.reg.kgs, err)
	}
	b.batch.Reset()
	return nil
}

// quietLogger drops Pebble's informational chatter (one line per flush and
// compaction) but keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf("lsm state: "+format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf("lsm state: "+format, args...)
}

func (b *lsmBackend) Name() string             { return "lsm" }
func (b *lsmBackend) KeyGroups() KeyGroupRange { return b.reg.kgs }
func (b *lsmBackend) registry() *registry      { return &b.reg }

// stateID is the stable 4-byte ID of a state name in store keys.
func stateID(name string) uint32 { return uint32(xxhash.Sum64String(name)) }

// claimID returns name's state ID, refusing an ID another name already has.
func (b *lsmBackend) claimID(name string) (uint32, error) {
	id := stateID(name)
	if other, ok := b.ids[id]; ok && other != name {
		return 0, fmt.Errorf("state names %q and %q hash to the same id %08x in the lsm backend; rename one of them", other, name, id)
	}
	b.ids[id] = name
	return id, nil
}

func appendStorePrefix(dst []byte, kg int, id uint32) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	return binary.BigEndian.AppendUint32(dst, id)
}

// appendStoreKey appends the store key of key in state id, without user key.
func appendStoreKey(dst []byte, kg int, id uint32, key []byte) []byte {
	dst = appendStorePrefix(dst, kg, id)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// parseStoreKey splits a store key into its parts; the slices alias k.
func parseStoreKey(k []byte) (kg int, id uint32, key, uk []byte, err error) {
	if len(k) < storePrefixLen {
		return 0, 0, nil, nil, fmt.Errorf("store key %x is shorter than its %d-byte prefix", k, storePrefixLen)
	}
	kg = int(binary.BigEndian.Uint16(k))
	id = binary.BigEndian.Uint32(k[2:])
	l, n := binary.Uvarint(k[storePrefixLen:])
	if n <= 0 || l > uint64(len(k)-storePrefixLen-n) {
		return 0, 0, nil, nil, fmt.Errorf("store key %x has a bad key length", k)
	}
	start := storePrefixLen + n
	end := start + int(l)
	return kg, id, k[start:end:end], k[end:], nil
}

// prefixEnd is the smallest key greater than every key starting with p.
// Store keys start with a key group below 0x8000, so p is never all 0xff.
func prefixEnd(p []byte) []byte { return appendPrefixEnd(nil, p) }

// appendPrefixEnd appends prefixEnd(p) to dst.
func appendPrefixEnd(dst, p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			dst = append(dst, p[:i+1]...)
			dst[len(dst)-1]++
			return dst
		}
	}
	panic("state: prefixEnd of an all-0xff prefix")
}

func (b *lsmBackend) Restore(r SnapshotReader) error {
	if len(b.reg.byName) > 0 {
		return fmt.Errorf("restore lsm backend: states are already registered; restore must come first")
	}
	// Restore writes through its own unindexed batch (cheaper, and nothing
	// reads it): no state is registered yet, so b.batch is empty and nothing
	// it holds could be overtaken by these writes.
	batch := b.db.NewBatch()
	defer func() { batch.Close() }()
	var key []byte
	for {
		e, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("restore lsm backend %v: %w", b.reg.kgs, err)
		}
		if !ok {
			break
		}
		if err := checkRestored(e, b.reg.kgs, b.reg.maxParallelism); err != nil {
			return err
		}
		id, err := b.claimID(e.State)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		b.restored[id] = true
		if len(e.UserKey) == listSeqLen {
			if next := binary.BigEndian.Uint64(e.UserKey) + 1; next > b.restoredSeq[e.State] {
				b.restoredSeq[e.State] = next
			}
		}
		key = append(appendStoreKey(key[:0], e.KeyGroup, id, e.Key), e.UserKey...)
		if err := batch.Set(key, e.Value, nil); err != nil {
			return fmt.Errorf("restore state %q: %w", e.State, err)
		}
		if batch.Len() >= restoreBatchSize {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return fmt.Errorf("restore lsm backend: write batch: %w", err)
			}
			batch.Reset()
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("restore lsm backend: write batch: %w", err)
	}
	return nil
}

// takeRestored reads a restored in-memory state (timers) out of the store:
// Restore cannot tell timers from other states, so it wrote them there.
func (b *lsmBackend) takeRestored(name string) ([]Entry, error) {
	id := stateID(name)
	if !b.restored[id] {
		return nil, nil
	}
	delete(b.restored, id)
	es, err := b.readRestored(name, id)
	if err != nil {
		return nil, fmt.Errorf("read restored state %q: %w", name, err)
	}
	// Delete after the iterator is closed, so that the writes may commit
	// the batch.
	for kg := b.reg.kgs.Start; kg < b.reg.kgs.End; kg++ {
		lo := appendStorePrefix(nil, kg, id)
		if err := b.batch.DeleteRange(lo, prefixEnd(lo), nil); err != nil {
			return nil, fmt.Errorf("remove restored state %q from the store: %w", name, err)
		}
	}
	if err := b.written(); err != nil {
		return nil, fmt.Errorf("remove restored state %q from the store: %w", name, err)
	}
	return es, nil
}

// readRestored copies state id's entries out of the store.
func (b *lsmBackend) readRestored(name string, id uint32) ([]Entry, error) {
	it, err := b.batch.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var es []Entry
	for kg := b.reg.kgs.Start; kg < b.reg.kgs.End; kg++ {
		lo := appendStorePrefix(nil, kg, id)
		hi := prefixEnd(lo)
		for it.SeekGE(lo); it.Valid() && bytes.Compare(it.Key(), hi) < 0; it.Next() {
			_, _, key, uk, err := parseStoreKey(it.Key())
			if err != nil {
				return nil, err
			}
			val, err := it.ValueAndErr()
			if err != nil {
				return nil, err
			}
			es = append(es, copyEntry(Entry{KeyGroup: kg, State: name, Key: key, UserKey: uk, Value: val}))
		}
	}
	return es, it.Error()
}

func (b *lsmBackend) Snapshot(w SnapshotWriter) error {
	runs, err := b.reg.memRuns()
	if err != nil {
		return fmt.Errorf("snapshot lsm backend %v: %w", b.reg.kgs, err)
	}
	m := newRunMerger(w, runs)
	if err := b.writeCaches(); err != nil {
		return fmt.Errorf("snapshot lsm backend %v: %w", b.reg.kgs, err)
	}
	// Commit what is buffered so the snapshot iterates the DB alone, not a
	// merge of it with a large batch. An iterator over the batch sees both,
	// so the snapshot is correct even when an open Range holds the commit off.
	if b.iters == 0 {
		if err := b.flush(); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	it, err := b.batch.NewIter(nil)
	if err != nil {
		return fmt.Errorf("snapshot lsm backend %v: %w", b.reg.kgs, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		kg, id, key, uk, err := parseStoreKey(it.Key())
		if err != nil {
			return fmt.Errorf("snapshot lsm backend %v: %w", b.reg.kgs, err)
		}
		name, ok := b.ids[id]
		if !ok {
			return fmt.Errorf("snapshot lsm backend %v: store key %x has unknown state id %08x", b.reg.kgs, it.Key(), id)
		}
		if err := m.writeBefore(kg); err != nil {
			return err
		}
		val, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("snapshot state %q: %w", name, err)
		}
		if err := w.WriteEntry(Entry{KeyGroup: kg, State: name, Key: key, UserKey: uk, Value: val}); err != nil {
			return fmt.Errorf("write snapshot entry of state %q: %w", name, err)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("snapshot lsm backend %v: %w", b.reg.kgs, err)
	}
	return m.writeRest()
}

func (b *lsmBackend) Close() error {
	if b.db == nil {
		return nil
	}
	// The batch is dropped, not committed: Close removes the store anyway.
	b.batch.Close()
	b.batch = nil
	err := b.db.Close()
	b.db = nil
	b.reg = registry{kgs: b.reg.kgs, maxParallelism: b.reg.maxParallelism}
	if rerr := os.RemoveAll(b.dir); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("close lsm state backend in %s: %w", b.dir, err)
	}
	return nil
}

// lsmKeyed is what every LSM state shares: where it stores the current key's
// entries, and buffers reused across calls.
type lsmKeyed[K comparable] struct {
	b    *lsmBackend
	kc   *KeyContext[K]
	name string
	id   uint32
	key  []byte // store key under construction
	val  []byte // value encoding under construction
	// lo and hi are iterator bounds, reused by the reads that run no user
	// code; an iterator reads its bounds until it is closed, so Range, which
	// may run a nested read of this state, makes its own.
	lo, hi []byte
}

func newLSMKeyed[K comparable](b *lsmBackend, kc *KeyContext[K], name string, k kind) (lsmKeyed[K], error) {
	id, err := b.claimID(name)
	if err != nil {
		return lsmKeyed[K]{}, fmt.Errorf("register %v %q: %w", k, name, err)
	}
	if k == kindList {
		b.seq = max(b.seq, b.restoredSeq[name])
	}
	delete(b.restored, id) // its restored entries are live state now
	return lsmKeyed[K]{b: b, kc: kc, name: name, id: id, key: make([]byte, 0, 64)}, nil
}

// storeKey sets s.key to the current key's store key (without user key).
func (s *lsmKeyed[K]) storeKey() ([]byte, error) {
	if err := s.kc.check(s.name, s.b.reg.kgs); err != nil {
		return nil, err
	}
	s.key = appendStoreKey(s.key[:0], s.kc.keyGroup, s.id, s.kc.keyBytes)
	return s.key, nil
}

func (s *lsmKeyed[K]) errorf(op string, err error) error {
	return fmt.Errorf("state %q key %v: %s: %w", s.name, s.kc.key, op, err)
}

// bounds sets s.lo and s.hi to the range of store keys holding the current
// key's entries.
func (s *lsmKeyed[K]) bounds() (lo, hi []byte, err error) {
	p, err := s.storeKey()
	if err != nil {
		return nil, nil, err
	}
	s.lo = append(s.lo[:0], p...)
	s.hi = appendPrefixEnd(s.hi[:0], p)
	return s.lo, s.hi, nil
}

func (s *lsmKeyed[K]) deleteAll() error {
	lo, hi, err := s.bounds()
	if err != nil {
		return err
	}
	if err := s.b.batch.DeleteRange(lo, hi, nil); err != nil {
		return s.errorf("clear", err)
	}
	if err := s.b.written(); err != nil {
		return s.errorf("clear", err)
	}
	return nil
}

// set writes k=v into the batch.
func (s *lsmKeyed[K]) set(op string, k, v []byte) error {
	if err := s.b.batch.Set(k, v, nil); err != nil {
		return s.errorf(op, err)
	}
	if err := s.b.written(); err != nil {
		return s.errorf(op, err)
	}
	return nil
}

type lsmValue[K comparable, V any] struct {
	lsmKeyed[K]
	vc    codec.Codec[V]
	cache valueCache
}

func (s *lsmValue[K, V]) Value() (V, bool, error) {
	var zero V
	k, err := s.storeKey()
	if err != nil {
		return zero, false, err
	}
	e, err := s.entry(k)
	if err != nil || !e.present {
		return zero, false, err
	}
	v, err := decodeWhole(s.vc, e.val)
	if err != nil {
		return zero, false, s.errorf("decode value", err)
	}
	return v, true, nil
}

func (s *lsmValue[K, V]) Update(v V) error {
	var err error
	if s.val, err = codec.TryAppend(s.vc, s.val[:0], v); err != nil {
		return s.errorf("write", err)
	}
	return s.write("write", s.val, true)
}

func (s *lsmValue[K, V]) Clear() error { return s.write("clear", nil, false) }

type lsmList[K comparable, V any] struct {
	lsmKeyed[K]
	vc codec.Codec[V]
}

func (s *lsmList[K, V]) Get() ([]V, error) {
	lo, hi, err := s.bounds()
	if err != nil {
		return nil, err
	}
	it, err := s.b.batch.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, s.errorf("read", err)
	}
	defer it.Close()
	var out []V
	for it.First(); it.Valid(); it.Next() {
		raw, err := it.ValueAndErr()
		if err != nil {
			return nil, s.errorf("read", err)
		}
		v, err := decodeWhole(s.vc, raw)
		if err != nil {
			return nil, s.errorf(fmt.Sprintf("decode element %d", len(out)), err)
		}
		out = append(out, v)
	}
	if err := it.Error(); err != nil {
		return nil, s.errorf("read", err)
	}
	return out, nil
}

func (s *lsmList[K, V]) Add(v V) error {
	k, err := s.storeKey()
	if err != nil {
		return err
	}
	if s.val, err = codec.TryAppend(s.vc, s.val[:0], v); err != nil {
		return s.errorf("add", err)
	}
	s.key = appendListSeq(k, s.b.seq)
	s.b.seq++
	return s.set("add", s.key, s.val)
}

func (s *lsmList[K, V]) Update(vs []V) error {
	lo, hi, err := s.bounds()
	if err != nil {
		return err
	}
	batch := s.b.batch
	if err := batch.DeleteRange(lo, hi, nil); err != nil {
		return s.errorf("update", err)
	}
	for _, v := range vs {
		s.key = appendListSeq(append(s.key[:0], lo...), s.b.seq)
		s.b.seq++
		var err error
		if s.val, err = codec.TryAppend(s.vc, s.val[:0], v); err != nil {
			batch.Close()
			return s.errorf("update", err)
		}
		if err := batch.Set(s.key, s.val, nil); err != nil {
			return s.errorf("update", err)
		}
	}
	if err := s.b.written(); err != nil {
		return s.errorf("update", err)
	}
	return nil
}

func (s *lsmList[K, V]) Clear() error { return s.deleteAll() }

type lsmMap[K comparable, UK comparable, UV any] struct {
	lsmKeyed[K]
	ukc   codec.Codec[UK]
	uvc   codec.Codec[UV]
	cache mapCache
}

// entryKey sets s.key to the store key of uk in the current key's map; p is
// its prefix, the current key's store key.
func (s *lsmMap[K, UK, UV]) entryKey(uk UK) (p, k []byte, err error) {
	k, err = s.storeKey()
	if err != nil {
		return nil, nil, err
	}
	n := len(k)
	if s.key, err = codec.TryAppend(s.ukc, k, uk); err != nil {
		return nil, nil, s.errorf("encode the map key", err)
	}
	return s.key[:n], s.key, nil
}

func (s *lsmMap[K, UK, UV]) Get(uk UK) (UV, bool, error) {
	var zero UV
	p, k, err := s.entryKey(uk)
	if err != nil {
		return zero, false, err
	}
	e, err := s.mapEntry(p, k)
	if err != nil || !e.present {
		return zero, false, err
	}
	uv, err := decodeWhole(s.uvc, e.val)
	if err != nil {
		return zero, false, s.errorf(fmt.Sprintf("decode value of map key %v", uk), err)
	}
	return uv, true, nil
}

func (s *lsmMap[K, UK, UV]) Put(uk UK, uv UV) error {
	p, k, err := s.entryKey(uk)
	if err != nil {
		return err
	}
	if s.val, err = codec.TryAppend(s.uvc, s.val[:0], uv); err != nil {
		return s.errorf("put", err)
	}
	return s.writeEntry("put", p, k, s.val, true)
}

func (s *lsmMap[K, UK, UV]) Remove(uk UK) error {
	p, k, err := s.entryKey(uk)
	if err != nil {
		return err
	}
	return s.writeEntry("remove", p, k, nil, false)
}

// Range iterates a view of the map taken when it starts (a Pebble batch
// iterator sees the writes made before it was opened, none after), so writes
// fn makes to other states, or against the rule to this one, do not change
// what it visits. While it runs the write batch is not committed.
func (s *lsmMap[K, UK, UV]) Range(fn func(UK, UV) error) error {
	p, err := s.storeKey()
	if err != nil {
		return err
	}
	// Own bounds: fn may read this state, which reuses s.lo and s.hi.
	lo := bytes.Clone(p)
	hi := prefixEnd(p)
	if err := s.flushKey(lo); err != nil {
		return err
	}
	it, err := s.b.batch.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return s.errorf("read", err)
	}
	s.b.iters++
	defer func() {
		it.Close()
		s.b.iters--
	}()
	for it.First(); it.Valid(); it.Next() {
		uk, err := decodeWhole(s.ukc, it.Key()[len(lo):])
		if err != nil {
			return s.errorf(fmt.Sprintf("decode map key %x", it.Key()[len(lo):]), err)
		}
		raw, err := it.ValueAndErr()
		if err != nil {
			return s.errorf("read", err)
		}
		uv, err := decodeWhole(s.uvc, raw)
		if err != nil {
			return s.errorf(fmt.Sprintf("decode value of map key %v", uk), err)
		}
		if err := fn(uk, uv); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return s.errorf("read", err)
	}
	return nil
}

func (s *lsmMap[K, UK, UV]) IsEmpty() (bool, error) {
	lo, hi, err := s.bounds()
	if err != nil {
		return false, err
	}
	if ke := s.cache.lookup(lo); ke != nil {
		for _, e := range ke.es {
			if e.present {
				return false, nil
			}
		}
	}
	// The store decides: write the key's removals first.
	if err := s.flushKey(lo); err != nil {
		return false, err
	}
	it, err := s.b.batch.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, s.errorf("read", err)
	}
	defer it.Close()
	empty := !it.First()
	if err := it.Error(); err != nil {
		return false, s.errorf("read", err)
	}
	return empty, nil
}

func (s *lsmMap[K, UK, UV]) Clear() error {
	p, err := s.storeKey()
	if err != nil {
		return err
	}
	s.dropKey(p)
	return s.deleteAll()
}
