package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/vfs"
)

// A task file holds one subtask's snapshot for one checkpoint:
//
//	file   = header block* index footer
//	header = "LMCK" version(1 byte)
//	block  = one operator state blob, a chunk of keyed entries of one key
//	         group, or one private file of an incremental snapshot
//	entry  = stateID uvarint | len uvarint key | len uvarint userKey | len uvarint value
//	index  = task string | subtask | parallelism | kgStart | kgEnd | checkpointID
//	         | nStates (name string)*
//	         | nOps (uid string | offset | length | crc32)*
//	         | nChunks (keyGroup | entries | offset | length | crc32)*
//	         | nFiles (name string | offset | length | crc32)*   (version 2 only)
//	footer = indexOffset uint64 | indexLength uint32 | indexCRC uint32 | "LMCK"
//
// Integers are uvarints unless sized; sized ones are little endian; strings
// are a uvarint length and the bytes. Every block carries its own CRC32C in
// the index and the index carries one in the footer, so a reader that seeks to
// the key groups it needs still verifies everything it reads. Keyed entries
// name their state by an index into the state table: the name is written once
// per file, not once per entry. A key group's entries are split into chunks of
// about chunkTarget bytes, which bounds a reader's memory.
//
// Version 2 is the file of an incremental snapshot (incremental.go): instead
// of keyed entries it holds the small private files of the backend's
// checkpoint (Pebble's MANIFEST, OPTIONS, markers and LOOM-STATE), one block
// each, so that a checkpoint creates one file per subtask whatever its state;
// the backend's tables are shared files the metadata lists. A file without
// private files is written as version 1, byte for byte what older looms
// write and read.
const (
	fileMagic = "LMCK"
	// fileVersion is the version of a file with keyed entries (or none);
	// fileVersionFiles that of a file with private files.
	fileVersion      = 1
	fileVersionFiles = 2
	headerLen        = 4 + 1
	footerLen        = 8 + 4 + 4 + 4
	chunkTarget      = 128 << 10
)

// ErrCorrupt marks checkpoint data that fails its checks: a bad checksum, a
// truncated file, an index that points outside the file. Test with errors.Is.
var ErrCorrupt = errors.New("corrupt checkpoint data")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// blockRef locates one block of a task file.
type blockRef struct {
	off, len int64
	crc      uint32
}

// namedRef is a private file's block.
type namedRef struct {
	name string
	blockRef
}

// chunkRef is a block of keyed entries, all of one key group.
type chunkRef struct {
	blockRef
	keyGroup int
	entries  int
}

// TaskWriter writes one subtask's snapshot into a task file. Keyed entries
// come through WriteEntry (it is the state.SnapshotWriter the task's backend
// writes to), operator state blobs through WriteOperatorState, in any
// interleaving. The file is written under a temporary name and appears under
// its final name only when Close succeeds; Abort removes it. A TaskWriter is
// used from one goroutine.
type TaskWriter struct {
	fs          vfs.FS
	dir         string
	name        string // final name, relative to dir
	tmp         string // full temporary path
	task        string
	subtask     int
	parallelism int
	kgs         state.KeyGroupRange
	id          int64
	version     byte // fileVersion, or fileVersionFiles for an incremental snapshot

	f   vfs.File
	w   *bufio.Writer
	off int64
	err error // first write error; the writer is unusable after it
	// done is set by Close and Abort.
	done bool

	states    []string
	stateIDs  map[string]int
	lastState string
	lastID    int

	ops    map[string]blockRef
	opUIDs []string // in write order, for a deterministic index
	chunks []chunkRef

	// files are the private files of an incremental snapshot (WriteFile),
	// in write order; shared the shared files it references (Reference),
	// uploaded the bytes of those this checkpoint uploaded.
	files    []namedRef
	fileSeen map[string]bool
	shared   []SharedFile
	uploaded int64

	// The chunk being filled: entries of key group curKG.
	cur        []byte
	curKG      int
	curEntries int
	anyEntry   bool
}

var _ state.SnapshotWriter = (*TaskWriter)(nil)

func newTaskWriter(fsys vfs.FS, dir string, id int64, task string, subtask, parallelism int, kgs state.KeyGroupRange, version byte) (*TaskWriter, error) {
	if task == "" {
		return nil, fmt.Errorf("checkpoint %d: task file needs a task name", id)
	}
	if subtask < 0 || parallelism < 1 || subtask >= parallelism {
		return nil, fmt.Errorf("checkpoint %d task %s: subtask %d is outside parallelism %d", id, task, subtask, parallelism)
	}
	if kgs.Start < 0 || kgs.End < kgs.Start {
		return nil, fmt.Errorf("checkpoint %d task %s/%d: invalid key-group range %v", id, task, subtask, kgs)
	}
	name := taskFileName(task, subtask)
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("checkpoint %d: create directory %s: %w", id, dir, err)
	}
	tmp := path.Join(dir, "."+name+".inprogress")
	f, err := fsys.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: create task file %s: %w", id, tmp, err)
	}
	w := &TaskWriter{
		fs: fsys, dir: dir, name: name, tmp: tmp,
		task: task, subtask: subtask, parallelism: parallelism, kgs: kgs, id: id, version: version,
		f: f, w: bufio.NewWriterSize(f, 64<<10),
		stateIDs: make(map[string]int), lastID: -1,
		ops: make(map[string]blockRef),
	}
	w.write([]byte(fileMagic))
	w.write([]byte{version})
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

func (w *TaskWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.w.Write(p); err != nil {
		w.err = fmt.Errorf("write task file %s: %w", w.tmp, err)
		return
	}
	w.off += int64(len(p))
}

func (w *TaskWriter) usable() error {
	if w.done {
		return fmt.Errorf("task file %s of checkpoint %d is already closed", w.name, w.id)
	}
	return w.err
}

// WriteEntry adds a keyed-state entry. Entries must arrive ordered by key
// group and lie in the writer's key-group range. The slices are copied.
func (w *TaskWriter) WriteEntry(e state.Entry) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.version == fileVersionFiles {
		return fmt.Errorf("checkpoint %d task %s/%d: the incremental snapshot takes keyed state as the backend's files, not as entries (state %q)",
			w.id, w.task, w.subtask, e.State)
	}
	if !w.kgs.Contains(e.KeyGroup) {
		return fmt.Errorf("checkpoint %d task %s/%d: entry of state %q in key group %d is outside the task's range %v",
			w.id, w.task, w.subtask, e.State, e.KeyGroup, w.kgs)
	}
	if w.anyEntry && e.KeyGroup < w.curKG {
		return fmt.Errorf("checkpoint %d task %s/%d: entries must arrive ordered by key group, got key group %d after %d (state %q)",
			w.id, w.task, w.subtask, e.KeyGroup, w.curKG, e.State)
	}
	if w.anyEntry && (e.KeyGroup != w.curKG || len(w.cur) >= chunkTarget) {
		w.flushChunk()
	}
	w.anyEntry = true
	w.curKG = e.KeyGroup
	id := w.lastID
	if e.State != w.lastState || id < 0 {
		var ok bool
		if id, ok = w.stateIDs[e.State]; !ok {
			id = len(w.states)
			w.states = append(w.states, e.State)
			w.stateIDs[e.State] = id
		}
		w.lastState, w.lastID = e.State, id
	}
	b := binary.AppendUvarint(w.cur, uint64(id))
	b = appendBytes(b, e.Key)
	b = appendBytes(b, e.UserKey)
	b = appendBytes(b, e.Value)
	w.cur = b
	w.curEntries++
	return w.err
}

// flushChunk writes the chunk being filled, if it holds entries.
func (w *TaskWriter) flushChunk() {
	if w.curEntries == 0 {
		return
	}
	ref := chunkRef{
		blockRef: blockRef{off: w.off, len: int64(len(w.cur)), crc: crc32.Checksum(w.cur, crcTable)},
		keyGroup: w.curKG,
		entries:  w.curEntries,
	}
	w.write(w.cur)
	w.chunks = append(w.chunks, ref)
	w.cur = w.cur[:0]
	w.curEntries = 0
}

// WriteOperatorState stores the non-keyed state of the operator uid (what its
// SnapshotState returned). Each uid may be written once per file.
func (w *TaskWriter) WriteOperatorState(uid string, data []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if _, dup := w.ops[uid]; dup {
		return fmt.Errorf("checkpoint %d task %s/%d: operator state of %q written twice", w.id, w.task, w.subtask, uid)
	}
	w.ops[uid] = blockRef{off: w.off, len: int64(len(data)), crc: crc32.Checksum(data, crcTable)}
	w.opUIDs = append(w.opUIDs, uid)
	w.write(data)
	return w.err
}

// WriteFile stores a private file of an incremental snapshot (one of the
// small files beside the backend's tables, which change at every
// checkpoint) as one block, read from r to its end. Each name may be written
// once per file, and only to a writer of an incremental snapshot.
func (w *TaskWriter) WriteFile(name string, r io.Reader) error {
	if err := w.usable(); err != nil {
		return err
	}
	switch {
	case w.version != fileVersionFiles:
		return fmt.Errorf("checkpoint %d task %s/%d: file %s: only the task file of an incremental snapshot holds files", w.id, w.task, w.subtask, name)
	case name == "" || name != path.Base(name) || name == "." || name == "..":
		return fmt.Errorf("checkpoint %d task %s/%d: private file %q must be a plain file name", w.id, w.task, w.subtask, name)
	case w.fileSeen[name]:
		return fmt.Errorf("checkpoint %d task %s/%d: private file %s written twice", w.id, w.task, w.subtask, name)
	}
	if w.fileSeen == nil {
		w.fileSeen = map[string]bool{}
	}
	w.fileSeen[name] = true
	ref := namedRef{name: name, blockRef: blockRef{off: w.off}}
	h := crc32.New(crcTable)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			w.write(buf[:n])
			if w.err != nil {
				return w.err
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			w.err = fmt.Errorf("write task file %s: read private file %s: %w", w.tmp, name, err)
			return w.err
		}
	}
	ref.len = w.off - ref.off
	ref.crc = h.Sum32()
	w.files = append(w.files, ref)
	return nil
}

// Reference records that the snapshot references shared file f, which
// this checkpoint uploaded (uploaded: its bytes count in the snapshot's
// Size) or an earlier one did. The list goes into the TaskSnapshot, and
// from there into the metadata, not into the file.
func (w *TaskWriter) Reference(f SharedFile, uploaded bool) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.version != fileVersionFiles {
		return fmt.Errorf("checkpoint %d task %s/%d: shared file %s: only an incremental snapshot references shared files", w.id, w.task, w.subtask, f.Path)
	}
	w.shared = append(w.shared, f)
	if uploaded {
		w.uploaded += f.Size
	}
	return nil
}

// Close completes the file: it writes the index and footer, syncs, and
// renames the file to its final name. The returned TaskSnapshot is what the
// task acknowledges to the coordinator. The new name becomes durable when
// Storage.WriteMetadata syncs the checkpoint directory, once for all task
// files. On error the partial file is removed.
func (w *TaskWriter) Close() (TaskSnapshot, error) {
	if err := w.usable(); err != nil {
		w.Abort()
		return TaskSnapshot{}, err
	}
	w.flushChunk()
	idx := w.appendIndex(nil)
	var foot [footerLen]byte
	binary.LittleEndian.PutUint64(foot[0:], uint64(w.off))
	binary.LittleEndian.PutUint32(foot[8:], uint32(len(idx)))
	binary.LittleEndian.PutUint32(foot[12:], crc32.Checksum(idx, crcTable))
	copy(foot[16:], fileMagic)
	w.write(idx)
	w.write(foot[:])
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("write task file %s: %w", w.tmp, err)
		}
	}
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("sync task file %s: %w", w.tmp, err)
		}
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return TaskSnapshot{}, err
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		w.fs.RemoveAll(w.tmp)
		return TaskSnapshot{}, fmt.Errorf("close task file %s: %w", w.tmp, err)
	}
	final := path.Join(w.dir, w.name)
	if err := w.fs.Rename(w.tmp, final); err != nil {
		w.fs.RemoveAll(w.tmp)
		return TaskSnapshot{}, fmt.Errorf("rename task file %s to %s: %w", w.tmp, final, err)
	}
	snap := TaskSnapshot{
		Task: w.task, Subtask: w.subtask, Parallelism: w.parallelism,
		KeyGroups: w.kgs, File: w.name, Size: w.off,
	}
	if w.version == fileVersionFiles {
		snap.Incremental = true
		snap.FileSize = w.off
		snap.Size = w.off + w.uploaded
		snap.StateSize = w.off
		for _, f := range w.shared {
			snap.StateSize += f.Size
		}
		snap.Shared = w.shared
	}
	return snap, nil
}

// Abort stops writing and removes the partial file, for a checkpoint that was
// aborted or a snapshot that failed. It is safe after Close (then it does
// nothing) and may be called more than once.
func (w *TaskWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	w.fs.RemoveAll(w.tmp)
}

func (w *TaskWriter) appendIndex(b []byte) []byte {
	b = appendString(b, w.task)
	b = binary.AppendUvarint(b, uint64(w.subtask))
	b = binary.AppendUvarint(b, uint64(w.parallelism))
	b = binary.AppendUvarint(b, uint64(w.kgs.Start))
	b = binary.AppendUvarint(b, uint64(w.kgs.End))
	b = binary.AppendUvarint(b, uint64(w.id))
	b = binary.AppendUvarint(b, uint64(len(w.states)))
	for _, s := range w.states {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(w.opUIDs)))
	for _, uid := range w.opUIDs {
		ref := w.ops[uid]
		b = appendString(b, uid)
		b = appendRef(b, ref)
	}
	b = binary.AppendUvarint(b, uint64(len(w.chunks)))
	for _, c := range w.chunks {
		b = binary.AppendUvarint(b, uint64(c.keyGroup))
		b = binary.AppendUvarint(b, uint64(c.entries))
		b = appendRef(b, c.blockRef)
	}
	if w.version == fileVersionFiles {
		b = binary.AppendUvarint(b, uint64(len(w.files)))
		for _, f := range w.files {
			b = appendString(b, f.name)
			b = appendRef(b, f.blockRef)
		}
	}
	return b
}

func appendRef(b []byte, r blockRef) []byte {
	b = binary.AppendUvarint(b, uint64(r.off))
	b = binary.AppendUvarint(b, uint64(r.len))
	return binary.LittleEndian.AppendUint32(b, r.crc)
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// taskFile is an open task file: its index, read and verified, and the file
// for reading blocks on demand.
type taskFile struct {
	path        string
	f           vfs.ReadableFile
	task        string
	subtask     int
	parallelism int
	kgs         state.KeyGroupRange
	id          int64
	states      []string
	ops         map[string]blockRef
	chunks      []chunkRef
	// version is the file's format; files (version 2) are the private
	// files of an incremental snapshot.
	version byte
	files   []namedRef
}

func openTaskFile(fsys vfs.FS, p string) (*taskFile, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint task file: %w", err)
	}
	t, err := readTaskIndex(f, p)
	if err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

func corruptf(file, format string, args ...any) error {
	return fmt.Errorf("%w: task file %s: %s (the file is damaged or truncated; restore from another checkpoint)",
		ErrCorrupt, file, fmt.Sprintf(format, args...))
}

func readTaskIndex(f vfs.ReadableFile, p string) (*taskFile, error) {
	size := f.Size()
	if size < int64(headerLen+footerLen) {
		return nil, corruptf(p, "only %d bytes, shorter than header and footer", size)
	}
	var head [headerLen]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("read task file %s header: %w", p, err)
	}
	if string(head[:len(fileMagic)]) != fileMagic {
		return nil, corruptf(p, "bad magic %q at offset 0, not a loom checkpoint task file", head[:len(fileMagic)])
	}
	v := head[len(fileMagic)]
	if v != fileVersion && v != fileVersionFiles {
		return nil, fmt.Errorf("task file %s has format version %d; this loom reads versions %d and %d", p, v, fileVersion, fileVersionFiles)
	}
	var foot [footerLen]byte
	if _, err := f.ReadAt(foot[:], size-footerLen); err != nil {
		return nil, fmt.Errorf("read task file %s footer: %w", p, err)
	}
	if string(foot[16:]) != fileMagic {
		return nil, corruptf(p, "bad footer magic %q", foot[16:])
	}
	idxOff := int64(binary.LittleEndian.Uint64(foot[0:]))
	idxLen := int64(binary.LittleEndian.Uint32(foot[8:]))
	if idxOff < int64(headerLen) || idxOff+idxLen != size-footerLen {
		return nil, corruptf(p, "index at offset %d length %d does not end at the footer (file size %d)", idxOff, idxLen, size)
	}
	idx := make([]byte, idxLen)
	if _, err := f.ReadAt(idx, idxOff); err != nil {
		return nil, fmt.Errorf("read task file %s index: %w", p, err)
	}
	if got, want := crc32.Checksum(idx, crcTable), binary.LittleEndian.Uint32(foot[12:]); got != want {
		return nil, corruptf(p, "index checksum %08x, want %08x", got, want)
	}
	t := &taskFile{path: p, f: f, ops: make(map[string]blockRef), version: v}
	d := decoder{b: idx}
	t.task = d.str()
	t.subtask = d.int()
	t.parallelism = d.int()
	t.kgs.Start = d.int()
	t.kgs.End = d.int()
	t.id = int64(d.uvarint())
	n := d.int()
	for i := 0; i < n && d.err == nil; i++ {
		t.states = append(t.states, d.str())
	}
	n = d.int()
	for i := 0; i < n && d.err == nil; i++ {
		uid := d.str()
		t.ops[uid] = d.ref()
	}
	n = d.int()
	for i := 0; i < n && d.err == nil; i++ {
		var c chunkRef
		c.keyGroup = d.int()
		c.entries = d.int()
		c.blockRef = d.ref()
		t.chunks = append(t.chunks, c)
	}
	if v == fileVersionFiles {
		n = d.int()
		for i := 0; i < n && d.err == nil; i++ {
			f := namedRef{name: d.str()}
			f.blockRef = d.ref()
			t.files = append(t.files, f)
		}
	}
	if d.err != nil {
		return nil, corruptf(p, "index: %v", d.err)
	}
	if len(d.b) != 0 {
		return nil, corruptf(p, "%d unexpected bytes after the index", len(d.b))
	}
	check := func(what string, r blockRef) error {
		if r.off < int64(headerLen) || r.len < 0 || r.off+r.len > idxOff {
			return corruptf(p, "%s at offset %d length %d lies outside the data section [%d,%d)", what, r.off, r.len, headerLen, idxOff)
		}
		return nil
	}
	for uid, r := range t.ops {
		if err := check(fmt.Sprintf("operator state %q", uid), r); err != nil {
			return nil, err
		}
	}
	for i, c := range t.chunks {
		if err := check(fmt.Sprintf("key group %d chunk", c.keyGroup), c.blockRef); err != nil {
			return nil, err
		}
		if !t.kgs.Contains(c.keyGroup) || (i > 0 && c.keyGroup < t.chunks[i-1].keyGroup) {
			return nil, corruptf(p, "key group %d chunk out of order or outside the file's range %v", c.keyGroup, t.kgs)
		}
	}
	seen := map[string]bool{}
	for _, f := range t.files {
		if f.name == "" || f.name != path.Base(f.name) || f.name == "." || f.name == ".." || seen[f.name] {
			return nil, corruptf(p, "private file name %q is not a plain name, or is listed twice", f.name)
		}
		seen[f.name] = true
		if err := check(fmt.Sprintf("private file %s", f.name), f.blockRef); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// readBlock reads and verifies one block. The buffer is fresh, so entries
// decoded from it stay valid after the next block is read.
func (t *taskFile) readBlock(what string, r blockRef) ([]byte, error) {
	b := make([]byte, r.len)
	if _, err := t.f.ReadAt(b, r.off); err != nil {
		return nil, fmt.Errorf("read %s of task file %s at offset %d: %w", what, t.path, r.off, err)
	}
	if got := crc32.Checksum(b, crcTable); got != r.crc {
		return nil, corruptf(t.path, "%s at offset %d: checksum %08x, want %08x", what, r.off, got, r.crc)
	}
	return b, nil
}

func (t *taskFile) Close() error { return t.f.Close() }

// decoder reads the varint encoding of indexes and chunks, keeping the first
// error so that parsing code reads straight.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a uvarint that must fit a non-negative int of sane size.
func (d *decoder) int() int {
	v := d.uvarint()
	if v > 1<<40 {
		d.fail("count or offset %d is implausibly large", v)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) ref() blockRef {
	r := blockRef{off: int64(d.int()), len: int64(d.int())}
	if d.err == nil && len(d.b) < 4 {
		d.fail("block checksum truncated")
	}
	if d.err != nil {
		return blockRef{}
	}
	r.crc = binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return r
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}
