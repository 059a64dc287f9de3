package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Incremental checkpoints of the LSM backend work as Flink's RocksDB backend
// does them. A checkpoint is a Pebble checkpoint: the store's live tables,
// hard-linked into a directory, plus the small files that open them again.
// Pebble never rewrites a table in place (a compaction writes new tables
// under new numbers and drops the old), so a table's name stands for the same
// bytes for the life of a store, and a checkpoint layer uploads only the
// tables that the previous checkpoint did not list.
//
// What Pebble does not hold is written beside its files, in LOOM-STATE: the
// state names behind the 4-byte IDs in store keys, the list sequence, and the
// entries of states kept in Go memory (timers).
//
// A restore opens one part (one old subtask's checkpoint) as the new store,
// linking its tables, and, when the key groups changed, deletes the key
// groups it no longer owns and copies in those of the other parts.

const (
	// lsmStateFile is loom's file in a checkpoint directory.
	lsmStateFile = "LOOM-STATE"
	// lsmStateMagic and then lsmStateVersion start LOOM-STATE.
	lsmStateMagic   = "loomlsm"
	lsmStateVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// LocalSST is a file of a Pebble checkpoint on local disk: one of its tables,
// or one of the small files beside them.
type LocalSST struct {
	// Name is the file's name in the checkpoint directory, and the name it
	// must have again in a restore part's directory.
	Name string
	// Path is the checkpoint directory joined with Name.
	Path string
	// Size is the file's length in bytes.
	Size int64
}

// IncrementalSnapshot is one checkpoint of an LSM backend, as files in a
// local directory. Dir holds exactly the files of Shared and Private; a
// restore needs all of them, under their names, in one directory (a
// RestorePart).
type IncrementalSnapshot struct {
	// Dir is the checkpoint directory. Its files never change; the caller
	// removes it once uploaded. Until then it keeps tables that the store
	// has since compacted away on disk.
	Dir string
	// KeyGroups and MaxParallelism are those of the backend checkpointed.
	KeyGroups      KeyGroupRange
	MaxParallelism int
	// Shared are the store's immutable data files (Pebble tables, *.sst,
	// and blob files, *.blob), in name order. Within one backend, from its
	// opening to Close, a name always stands for the same bytes, so a file
	// this backend listed in an earlier checkpoint, and that was uploaded
	// then, need not be uploaded again. Names are not unique across
	// backends: two subtasks, or two restores of one checkpoint, make
	// different files with the same name; upload each to a path of its own
	// and key reuse by backend. After OpenLSMFromCheckpoints, the files the
	// store kept from its base part (BaseRestorePart) have the names and
	// bytes they have in that part, so the files downloaded for it may be
	// referenced instead of uploaded again.
	Shared []LocalSST
	// Private are the small files that change at every checkpoint and are
	// uploaded each time: Pebble's MANIFEST, OPTIONS and marker files, and
	// LOOM-STATE (state names, list sequence, timers).
	Private []LocalSST
}

// Incremental is implemented by backends that can checkpoint as files, so
// that a checkpoint need upload only what an earlier one did not: the LSM
// backend does; the heap backend has only the full Snapshot, which savepoints
// also use. Like Backend, it is used from the task goroutine only.
type Incremental interface {
	// CheckpointFiles writes a checkpoint of all state written so far into
	// the new directory dir (it must not exist; missing parents are made)
	// and lists its files. A checkpoint that fails removes what it wrote.
	CheckpointFiles(dir string) (IncrementalSnapshot, error)
}

var _ Incremental = (*lsmBackend)(nil)

// CheckpointFiles writes the write caches and the write batch into the store,
// flushes Pebble's memtables to tables and has Pebble hard-link the live
// tables into dir, so the tables hold everything written so far and no WAL
// is needed. It copies no table data, but it blocks the task for that commit,
// one memtable flush (the writes since the last one, at most about
// lsmMemTableSize), a link per table, a few file syncs, and writing every
// timer into LOOM-STATE: 80 ms on average with 64 MiB of state and 1% of it
// changed (BenchmarkIncrementalCheckpoint, 2 cores, local disk). It must be
// called between records: not while a map state's Range runs.
func (b *lsmBackend) CheckpointFiles(dir string) (IncrementalSnapshot, error) {
	s, err := b.checkpointFiles(dir)
	if err != nil {
		return IncrementalSnapshot{}, fmt.Errorf("incremental checkpoint of lsm backend %v into %s: %w", b.reg.kgs, dir, err)
	}
	return s, nil
}

func (b *lsmBackend) checkpointFiles(dir string) (_ IncrementalSnapshot, err error) {
	if b.db == nil {
		return IncrementalSnapshot{}, errors.New("the backend is closed")
	}
	if b.iters > 0 {
		return IncrementalSnapshot{}, errors.New("a map state's Range is running; checkpoint between records")
	}
	if _, err := os.Lstat(dir); err == nil {
		return IncrementalSnapshot{}, errors.New("the directory exists; give every checkpoint a new directory")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return IncrementalSnapshot{}, err
	}
	runs, err := b.reg.memRuns()
	if err != nil {
		return IncrementalSnapshot{}, err
	}
	if err := b.writeCaches(); err != nil {
		return IncrementalSnapshot{}, err
	}
	if err := b.flush(); err != nil {
		return IncrementalSnapshot{}, err
	}
	if err := b.db.Flush(); err != nil {
		return IncrementalSnapshot{}, fmt.Errorf("flush memtable: %w", err)
	}
	// No writes can come between the flush and the checkpoint (this is the
	// task goroutine), so the checkpoint's memtable is empty and its WAL,
	// disabled anyway, holds nothing.
	if err := b.db.Checkpoint(dir); err != nil {
		return IncrementalSnapshot{}, fmt.Errorf("pebble checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return IncrementalSnapshot{}, err
	}
	s := IncrementalSnapshot{Dir: dir, KeyGroups: b.reg.kgs, MaxParallelism: b.reg.maxParallelism}
	meta := lsmCheckpointMeta{
		MaxParallelism: b.reg.maxParallelism,
		KeyGroups:      b.reg.kgs,
		ListSeq:        b.seq,
		States:         slices.Sorted(maps.Values(b.ids)),
	}
	for _, seq := range b.restoredSeq {
		meta.ListSeq = max(meta.ListSeq, seq)
	}
	for _, de := range ents {
		info, err := de.Info()
		if err != nil {
			return IncrementalSnapshot{}, err
		}
		if !info.Mode().IsRegular() {
			return IncrementalSnapshot{}, fmt.Errorf("pebble wrote %s, which is not a regular file", de.Name())
		}
		f := LocalSST{Name: de.Name(), Path: filepath.Join(dir, de.Name()), Size: info.Size()}
		if sharedFile(f.Name) {
			s.Shared = append(s.Shared, f)
		} else {
			s.Private = append(s.Private, f)
		}
		meta.Files = append(meta.Files, lsmCheckpointFile{Name: f.Name, Size: f.Size})
	}
	state, err := writeLSMState(filepath.Join(dir, lsmStateFile), meta, runs)
	if err != nil {
		return IncrementalSnapshot{}, err
	}
	s.Private = append(s.Private, state)
	return s, nil
}

// sharedFile reports whether a file of a Pebble checkpoint is immutable data
// (a table or a blob file), named by a file number Pebble never reuses.
func sharedFile(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// RestorePart is the downloaded checkpoint of one old subtask.
type RestorePart struct {
	// Dir holds every file of one IncrementalSnapshot (Shared and Private)
	// under its name. The restore only reads it; the caller removes it
	// afterwards. Tables are hard-linked from it where the file system
	// allows, so its files must not be written to afterwards.
	Dir string
	// KeyGroups is the range of the backend that took the checkpoint.
	KeyGroups KeyGroupRange
}

// OpenLSMFromCheckpoints opens an LSM backend in dir (which must not exist
// or be empty; Close removes it) holding the state of key groups kgs from
// incremental checkpoints of the old subtasks, one part each. Parts whose
// key groups miss kgs are ignored; those that meet it must not overlap
// within kgs and must together cover it.
//
// The part that holds most of kgs (BaseRestorePart) becomes the new store: its
// tables are hard-linked into dir, not copied, and its small files copied.
// When that part's key groups are exactly kgs, that is all (the common case
// of a restart at the same parallelism). Otherwise the key groups outside kgs
// are deleted from the store and compacted away, and the entries of the other
// parts in kgs are copied in. A part whose file is missing, or shorter or
// longer than the checkpoint recorded, is refused with an error naming the
// file.
func OpenLSMFromCheckpoints(dir string, parts []RestorePart, kgs KeyGroupRange, maxParallelism int) (Backend, error) {
	if err := makeLSMDir(dir, kgs, maxParallelism); err != nil {
		return nil, err
	}
	b, err := restoreCheckpoints(dir, parts, kgs, maxParallelism)
	if err != nil {
		if b != nil {
			b.Close() // removes dir
		} else {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("restore lsm state backend %v in %s from checkpoints: %w", kgs, dir, err)
	}
	return b, nil
}

// BaseRestorePart is the index of the part OpenLSMFromCheckpoints opens as the
// new store: the one with the most key groups in kgs, the first of those on a
// tie; -1 when no part has any. The checkpoint layer uses it to know which
// part's files the restored backend's checkpoints keep listing.
func BaseRestorePart(parts []RestorePart, kgs KeyGroupRange) int {
	best, bestLen := -1, 0
	for i, p := range parts {
		if n := intersect(p.KeyGroups, kgs).Len(); n > bestLen {
			best, bestLen = i, n
		}
	}
	return best
}

// intersect is the key groups in both a and b (empty: Len() <= 0).
func intersect(a, b KeyGroupRange) KeyGroupRange {
	return KeyGroupRange{Start: max(a.Start, b.Start), End: min(a.End, b.End)}
}

// restoredPart is a restore part with its LOOM-STATE read and its files
// checked.
type restoredPart struct {
	RestorePart
	meta lsmCheckpointMeta
	mem  []Entry // entries of in-memory states (timers)
}

// restoreCheckpoints does OpenLSMFromCheckpoints in the directory made for
// it. It returns the backend it opened, if any, with any error.
func restoreCheckpoints(dir string, parts []RestorePart, kgs KeyGroupRange, maxParallelism int) (*lsmBackend, error) {
	var rps []restoredPart
	for _, p := range parts {
		if intersect(p.KeyGroups, kgs).Len() <= 0 {
			continue
		}
		rp, err := readPart(p, maxParallelism)
		if err != nil {
			return nil, err
		}
		rps = append(rps, rp)
	}
	if err := checkCover(rps, kgs); err != nil {
		return nil, err
	}
	base := parts[BaseRestorePart(parts, kgs)]
	baseIdx := slices.IndexFunc(rps, func(rp restoredPart) bool { return rp.RestorePart == base })
	if err := linkPart(rps[baseIdx], dir); err != nil {
		return nil, err
	}
	b, err := openLSM(dir, kgs, maxParallelism)
	if err != nil {
		return nil, err
	}
	// Every name the parts' stores may hold IDs of is known before any
	// entry is read, and every one may have restored entries in the store.
	for _, rp := range rps {
		for _, name := range rp.meta.States {
			id, err := b.claimID(name)
			if err != nil {
				return b, err
			}
			b.restored[id] = true
		}
		b.seq = max(b.seq, rp.meta.ListSeq)
	}
	if err := b.clip(base.KeyGroups); err != nil {
		return b, err
	}
	for i, rp := range rps {
		if i == baseIdx {
			continue
		}
		tmp := filepath.Clean(dir) + ".restore-part-" + strconv.Itoa(i)
		if err := b.copyPart(rp, tmp); err != nil {
			return b, fmt.Errorf("copy key groups %v from part %s: %w", intersect(rp.KeyGroups, kgs), rp.Dir, err)
		}
	}
	// The in-memory states' entries go into the store, as a full restore
	// puts them, for the states to take at registration.
	var mem entrySlice
	for _, rp := range rps {
		for _, e := range rp.mem {
			if kgs.Contains(e.KeyGroup) {
				mem = append(mem, e)
			}
		}
	}
	if err := b.Restore(&mem); err != nil {
		return b, err
	}
	return b, nil
}

// readPart reads a part's LOOM-STATE and checks that it matches the part and
// that every file of the checkpoint is there with its recorded size.
func readPart(p RestorePart, maxParallelism int) (restoredPart, error) {
	meta, mem, err := readLSMState(filepath.Join(p.Dir, lsmStateFile))
	if err != nil {
		return restoredPart{}, fmt.Errorf("part %s: %w", p.Dir, err)
	}
	if meta.MaxParallelism != maxParallelism {
		return restoredPart{}, fmt.Errorf("part %s was checkpointed with max parallelism %d, not %d: the max parallelism cannot change across restores", p.Dir, meta.MaxParallelism, maxParallelism)
	}
	if meta.KeyGroups != p.KeyGroups {
		return restoredPart{}, fmt.Errorf("part %s holds key groups %v, not %v as the restore was told: is it another subtask's checkpoint?", p.Dir, meta.KeyGroups, p.KeyGroups)
	}
	for _, f := range meta.Files {
		path := filepath.Join(p.Dir, f.Name)
		info, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return restoredPart{}, fmt.Errorf("file %s of the checkpoint is missing: was the part fully downloaded?", path)
		case err != nil:
			return restoredPart{}, err
		case info.Size() != f.Size:
			return restoredPart{}, fmt.Errorf("file %s has %d bytes, the checkpoint recorded %d: it is truncated or was not fully downloaded", path, info.Size(), f.Size)
		}
	}
	return restoredPart{RestorePart: p, meta: meta, mem: mem}, nil
}

// checkCover checks that the parts' key groups within kgs tile kgs: each key
// group restored from exactly one part.
func checkCover(rps []restoredPart, kgs KeyGroupRange) error {
	sorted := slices.Clone(rps)
	slices.SortFunc(sorted, func(a, b restoredPart) int { return a.KeyGroups.Start - b.KeyGroups.Start })
	next := kgs.Start
	for i, rp := range sorted {
		r := intersect(rp.KeyGroups, kgs)
		if r.Start > next {
			return fmt.Errorf("no restore part holds key groups %v", KeyGroupRange{Start: next, End: r.Start})
		}
		if r.Start < next {
			return fmt.Errorf("restore parts %s and %s both hold key groups %v", sorted[i-1].Dir, rp.Dir, KeyGroupRange{Start: r.Start, End: min(next, r.End)})
		}
		next = r.End
	}
	if next < kgs.End {
		return fmt.Errorf("no restore part holds key groups %v", KeyGroupRange{Start: next, End: kgs.End})
	}
	return nil
}

// linkPart puts the files of a part's Pebble checkpoint into dir: tables are
// hard-linked (copied across file systems), since Pebble never writes them;
// the other files are copied, since Pebble may write them.
func linkPart(rp restoredPart, dir string) error {
	for _, f := range rp.meta.Files {
		src, dst := filepath.Join(rp.Dir, f.Name), filepath.Join(dir, f.Name)
		var err error
		if sharedFile(f.Name) {
			err = vfs.LinkOrCopy(vfs.Default, src, dst)
		} else {
			err = vfs.Copy(vfs.Default, src, dst)
		}
		if err != nil {
			return fmt.Errorf("link checkpoint file %s into %s: %w", src, dir, err)
		}
	}
	return nil
}

// kgBound is the smallest store key of key group kg (kg may be
// MaxMaxParallelism, the end of the last group).
func kgBound(kg int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(kg)) }

// clip deletes the key groups outside b's range from a store opened from a
// part of key groups had (a store holds only its own key groups, so had
// bounds what there is to delete), and compacts them away. The deletion is
// one range tombstone per side, however much it covers. The compaction reads
// the tables that overlap the deleted groups and writes back only their
// entries in b's range, so that the store, and every later checkpoint, stop
// carrying the deleted groups; it costs about one read of the deleted data,
// and a restore at another parallelism is rare. The tables it does not touch
// keep their names.
func (b *lsmBackend) clip(had KeyGroupRange) error {
	kgs := b.reg.kgs
	var spans [][2][]byte
	if had.Start < kgs.Start {
		spans = append(spans, [2][]byte{kgBound(had.Start), kgBound(kgs.Start)})
	}
	if had.End > kgs.End {
		spans = append(spans, [2][]byte{kgBound(kgs.End), kgBound(had.End)})
	}
	for _, sp := range spans {
		if err := b.db.DeleteRange(sp[0], sp[1], pebble.NoSync); err != nil {
			return fmt.Errorf("delete key groups outside %v: %w", kgs, err)
		}
	}
	for _, sp := range spans {
		if err := b.db.Compact(context.Background(), sp[0], sp[1], false); err != nil {
			return fmt.Errorf("compact deleted key groups outside %v: %w", kgs, err)
		}
	}
	return nil
}

// copyPart copies the entries of rp's key groups within b's range into b's
// store. The part is linked into tmp (a directory of its own, so that Pebble's
// lock file and anything else it writes stay out of the caller's part) and
// opened read-only.
//
// The entries go through write batches rather than through Pebble's Ingest of
// tables built for the range: batches are correct by construction (the
// entries get sequence numbers above everything in the store, and no key
// group is in two parts, so nothing is shadowed) and need no table writer
// configured like the store. They cost a pass through the memtable and the
// compactions that follow, which a rescale, being rare, can afford.
func (b *lsmBackend) copyPart(rp restoredPart, tmp string) (err error) {
	if err := os.RemoveAll(tmp); err != nil { // left by a restore that crashed
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); err == nil && rerr != nil {
			err = rerr
		}
	}()
	if err := linkPart(rp, tmp); err != nil {
		return err
	}
	src, err := pebble.Open(tmp, &pebble.Options{ReadOnly: true, Logger: quietLogger{}})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := src.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	r := intersect(rp.KeyGroups, b.reg.kgs)
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: kgBound(r.Start), UpperBound: kgBound(r.End)})
	if err != nil {
		return err
	}
	defer it.Close()
	batch := b.db.NewBatch()
	defer func() { batch.Close() }()
	for it.First(); it.Valid(); it.Next() {
		_, id, _, _, err := parseStoreKey(it.Key())
		if err != nil {
			return err
		}
		if _, ok := b.ids[id]; !ok {
			return fmt.Errorf("store key %x has state id %08x, which the part's %s does not name", it.Key(), id, lsmStateFile)
		}
		val, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := batch.Set(it.Key(), val, nil); err != nil {
			return err
		}
		if batch.Len() >= restoreBatchSize {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return fmt.Errorf("write batch: %w", err)
			}
			batch.Reset()
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// entrySlice is a SnapshotReader over entries in memory.
type entrySlice []Entry

func (s *entrySlice) Next() (Entry, bool, error) {
	if len(*s) == 0 {
		return Entry{}, false, nil
	}
	e := (*s)[0]
	*s = (*s)[1:]
	return e, true, nil
}

// lsmCheckpointMeta is the header of LOOM-STATE. The file is
//
//	lsmStateMagic | lsmStateVersion | uvarint(len header) | header (JSON) |
//	MemEntries entries | CRC-32C of all before (4 bytes, big endian)
//
// where an entry is uvarint key group, uvarint index into States, and the
// key, user key and value, each as uvarint length and bytes.
type lsmCheckpointMeta struct {
	MaxParallelism int           `json:"maxParallelism"`
	KeyGroups      KeyGroupRange `json:"keyGroups"`
	// ListSeq is above the sequence number of every list element in the
	// store.
	ListSeq uint64 `json:"listSeq"`
	// States names every state registered or with entries in the store:
	// store keys hold only a hash of the name.
	States []string `json:"states"`
	// Files are the Pebble files of the checkpoint, to check a download by.
	Files []lsmCheckpointFile `json:"files"`
	// MemEntries is the number of entries of in-memory states (timers).
	MemEntries int `json:"memEntries"`
}

type lsmCheckpointFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// writeLSMState writes LOOM-STATE at path: meta, and the entries of runs
// (whose states meta.States must name).
func writeLSMState(path string, meta lsmCheckpointMeta, runs []*entryRun) (LocalSST, error) {
	index := make(map[string]uint64, len(meta.States))
	for i, name := range meta.States {
		index[name] = uint64(i)
	}
	for _, r := range runs {
		if _, ok := index[r.state]; !ok {
			return LocalSST{}, fmt.Errorf("in-memory state %q has no state id", r.state)
		}
		meta.MemEntries += len(r.ents)
	}
	hdr, err := json.Marshal(meta)
	if err != nil {
		return LocalSST{}, fmt.Errorf("encode %s: %w", lsmStateFile, err)
	}
	buf := append([]byte(lsmStateMagic), lsmStateVersion)
	buf = binary.AppendUvarint(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	for _, r := range runs {
		for i := range r.ents {
			e := r.entry(i)
			buf = binary.AppendUvarint(buf, uint64(e.KeyGroup))
			buf = binary.AppendUvarint(buf, index[r.state])
			for _, p := range [][]byte{e.Key, e.UserKey, e.Value} {
				buf = binary.AppendUvarint(buf, uint64(len(p)))
				buf = append(buf, p...)
			}
		}
	}
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return LocalSST{}, err
	}
	return LocalSST{Name: filepath.Base(path), Path: path, Size: int64(len(buf))}, nil
}

// readLSMState reads a LOOM-STATE file; the entries alias one buffer.
func readLSMState(path string) (lsmCheckpointMeta, []Entry, error) {
	var meta lsmCheckpointMeta
	buf, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return meta, nil, fmt.Errorf("%s is missing: the directory is not an lsm backend's incremental checkpoint, or was not fully downloaded", path)
	}
	if err != nil {
		return meta, nil, err
	}
	bad := func(what string) error {
		return fmt.Errorf("%s is corrupt: %s", path, what)
	}
	if len(buf) < len(lsmStateMagic)+1+4 || !bytes.HasPrefix(buf, []byte(lsmStateMagic)) {
		return meta, nil, fmt.Errorf("%s is not a loom lsm checkpoint state file", path)
	}
	if v := buf[len(lsmStateMagic)]; v != lsmStateVersion {
		return meta, nil, fmt.Errorf("%s has format version %d; this loom reads version %d", path, v, lsmStateVersion)
	}
	body, sum := buf[:len(buf)-4], binary.BigEndian.Uint32(buf[len(buf)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return meta, nil, bad("checksum mismatch (truncated or damaged)")
	}
	d := body[len(lsmStateMagic)+1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(d)
		if n <= 0 {
			return 0, false
		}
		d = d[n:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(d)) {
			return nil, false
		}
		p := d[:n:n]
		d = d[n:]
		return p, true
	}
	hdr, ok := bytesOf()
	if !ok {
		return meta, nil, bad("bad header length")
	}
	if err := json.Unmarshal(hdr, &meta); err != nil {
		return meta, nil, bad(err.Error())
	}
	mem := make([]Entry, 0, meta.MemEntries)
	for i := 0; i < meta.MemEntries; i++ {
		kg, ok1 := uvarint()
		si, ok2 := uvarint()
		key, ok3 := bytesOf()
		uk, ok4 := bytesOf()
		val, ok5 := bytesOf()
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || si >= uint64(len(meta.States)) || kg >= uint64(meta.MaxParallelism) {
			return meta, nil, bad(fmt.Sprintf("bad entry %d of %d", i, meta.MemEntries))
		}
		mem = append(mem, Entry{KeyGroup: int(kg), State: meta.States[si], Key: key, UserKey: uk, Value: val})
	}
	if len(d) != 0 {
		return meta, nil, bad(fmt.Sprintf("%d bytes after the last entry", len(d)))
	}
	return meta, mem, nil
}
