package file

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/linkedin/goavro/v2"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// Avro reads Avro object container files. Files are not split: file i goes to
// subtask i mod parallelism. convert turns goavro's native datum (maps,
// slices, strings, numbers as goavro decodes them) into T; a conversion error
// is a bad record reported as "path: record N (block at offset X)". A datum
// that does not decode is a bad record too, and the rest of its block is
// skipped with it (Avro has no record boundaries inside a block); a broken
// block frame (size, sync marker) fails the job.
func Avro[T any](convert func(native any) (T, error), paths ...string) *Source[T] {
	s := newSource[T](paths)
	s.convert = convert
	return s
}

// Bounds on what one Avro block may ask for. goavro allocates what a
// block's header says (its item count, its byte size) before reading the
// block; its defaults (2^31 each) let 12 damaged bytes ask for a map of
// 2^31 entries and exhaust memory (found by FuzzAvroOCF). Writers cut
// blocks at a sync interval of 16 KiB to 1 MiB, far below these.
const (
	maxAvroBlockCount = 1 << 20
	maxAvroBlockSize  = 256 << 20
)

func init() {
	goavro.MaxBlockCount = min(goavro.MaxBlockCount, maxAvroBlockCount)
	goavro.MaxBlockSize = min(goavro.MaxBlockSize, maxAvroBlockSize)
}

// checkOCFHeader refuses a file whose header's metadata map claims more
// entries than its bytes can hold, before goavro allocates a map that
// large: each entry takes at least two bytes.
func checkOCFHeader(f io.ReaderAt, size int64) error {
	var head [4 + binary.MaxVarintLen64]byte
	n, _ := f.ReadAt(head[:], 0)
	if n < 5 || string(head[:4]) != "Obj\x01" {
		return nil // goavro says what is wrong
	}
	count, k := binary.Varint(head[4:n])
	if k <= 0 {
		return nil
	}
	if count < 0 {
		count = -count
	}
	if count < 0 || count > (size-4)/2 {
		return fmt.Errorf("its header claims %d metadata entries in a file of %d bytes: damaged", count, size)
	}
	return nil
}

// countingReader counts the bytes goavro consumed, which gives block offsets.
// goavro reads block headers byte by byte, so it sits on a bufio.Reader.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// avroReader reads files i, i+n, ... Its position is (file, block offset,
// records consumed in that block): block offset 0 means the file is not
// started.
type avroReader[T any] struct {
	list        *listing
	convert     func(any) (T, error)
	parallelism int

	fileIdx  int
	blockOff int64 // offset of the current block, 0 before the first
	inBlock  int64 // records of the current block already consumed
	record   int64 // records consumed in the file (for messages)

	ctx  *task.Context
	file vfs.ReadableFile
	cr   countingReader
	ocf  *goavro.OCFReader
}

func newAvroReader[T any](l *listing, convert func(any) (T, error), subtask, parallelism int) *avroReader[T] {
	return &avroReader[T]{list: l, convert: convert, parallelism: parallelism, fileIdx: subtask}
}

func (r *avroReader[T]) Open(ctx *task.Context) error {
	r.ctx = ctx
	if ctx == nil || ctx.Restored == nil {
		return nil
	}
	vals, err := decodeVarints(ctx.Restored, 4)
	if err != nil {
		return fmt.Errorf("avro source: corrupt checkpoint position: %w", err)
	}
	// A negative file index indexed the listing at -2 (FuzzAvroPositionDecode).
	if vals[0] < 0 || int(vals[0])%r.parallelism != r.fileIdx%r.parallelism || vals[1] < 0 || vals[2] < 0 || vals[3] < 0 {
		return fmt.Errorf("avro source: restored position (file %d, block at %d) does not belong to this subtask of %d", vals[0], vals[1], r.parallelism)
	}
	r.fileIdx, r.blockOff, r.inBlock, r.record = int(vals[0]), vals[1], vals[2], vals[3]
	return nil
}

func (r *avroReader[T]) name() string { return r.list.files[r.fileIdx].name }

// where names a record for error messages.
func (r *avroReader[T]) where() string {
	return fmt.Sprintf("%s: record %d (block at offset %d)", r.name(), r.record+1, r.blockOff)
}

// openFile opens the current file, reads its header and moves to the saved
// position.
func (r *avroReader[T]) openFile() error {
	in := r.list.files[r.fileIdx]
	f, err := in.fsys.Open(in.path)
	if err != nil {
		return fmt.Errorf("input %s: %w", in.name, err)
	}
	if err := in.same(f.Size(), in.modTime); err == nil {
		err = in.unchanged()
	}
	if err != nil {
		f.Close()
		return err
	}
	r.file = f
	if err := checkOCFHeader(f, f.Size()); err != nil {
		return fmt.Errorf("input %s: not an Avro container file: %w", in.name, err)
	}
	r.cr = countingReader{r: bufio.NewReaderSize(io.NewSectionReader(f, 0, f.Size()), 256<<10)}
	if r.ocf, err = goavro.NewOCFReader(&r.cr); err != nil {
		return fmt.Errorf("input %s: not an Avro container file: %w", in.name, err)
	}
	if r.blockOff == 0 {
		return nil
	}
	// Resume: jump to the saved block and skip the records already returned.
	r.cr = countingReader{r: bufio.NewReaderSize(io.NewSectionReader(f, r.blockOff, f.Size()-r.blockOff), 256<<10), n: r.blockOff}
	skip := r.inBlock
	r.inBlock = 0
	for ; skip > 0; skip-- {
		if !r.ocf.Scan() {
			return fmt.Errorf("input %s: restore at block offset %d: %d records missing (%v): the file changed since the checkpoint", in.name, r.blockOff, skip, r.ocf.Err())
		}
		if _, err := r.ocf.Read(); err != nil {
			return fmt.Errorf("input %s: restore at block offset %d: %w", in.name, r.blockOff, err)
		}
		r.inBlock++
	}
	return nil
}

func (r *avroReader[T]) Read(b *task.Batch[T]) (task.ReadStatus, error) {
	n0 := b.Len()
	for b.Len() < cap(b.Values) {
		if r.ocf == nil {
			if r.fileIdx >= len(r.list.files) {
				if b.Len() > n0 {
					return task.ReadStatus{}, nil
				}
				return task.ReadStatus{End: true}, nil
			}
			if err := r.openFile(); err != nil {
				return task.ReadStatus{}, err
			}
		}
		if r.ocf.RemainingBlockItems() == 0 {
			// Scan is about to load the next block, which starts here.
			r.blockOff, r.inBlock = r.cr.n, 0
		}
		if !r.ocf.Scan() {
			if err := r.ocf.Err(); err != nil {
				return task.ReadStatus{}, fmt.Errorf("input %s: block at offset %d: %w", r.name(), r.blockOff, err)
			}
			// Read to its end: it must still be the file that was listed.
			if err := r.list.files[r.fileIdx].unchanged(); err != nil {
				return task.ReadStatus{}, err
			}
			if err := r.nextFile(); err != nil {
				return task.ReadStatus{}, err
			}
			continue
		}
		datum, err := r.ocf.Read()
		if err != nil {
			rest := r.ocf.RemainingBlockItems()
			where := r.where()
			r.ocf.SkipThisBlockAndReset()
			r.record += rest
			r.inBlock += rest
			if herr := r.policy().Handle(where, nil, fmt.Errorf("decode: %w (the %d records left in this block are skipped with it)", err, rest-1)); herr != nil {
				return task.ReadStatus{}, herr
			}
			continue
		}
		v, err := r.convert(datum)
		if err != nil {
			herr := r.policy().Handle(r.where(), []byte(fmt.Sprint(datum)), err)
			r.record++
			r.inBlock++
			if herr != nil {
				return task.ReadStatus{}, herr
			}
			continue
		}
		r.record++
		r.inBlock++
		b.Append(task.NoTimestamp, v)
	}
	return task.ReadStatus{}, nil
}

func (r *avroReader[T]) policy() *task.BadRecordPolicy {
	if r.ctx == nil {
		return nil
	}
	return r.ctx.BadRecords
}

func (r *avroReader[T]) nextFile() error {
	err := r.closeFile()
	r.fileIdx += r.parallelism
	r.blockOff, r.inBlock, r.record = 0, 0, 0
	return err
}

func (r *avroReader[T]) closeFile() error {
	r.ocf = nil
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	r.file = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", r.name(), err)
	}
	return nil
}

// Snapshot returns (file, block offset, records consumed in block, records
// consumed in file). After the last record of a block the position is the
// start of the next block, which spares a restore the decoding of a block.
func (r *avroReader[T]) Snapshot() ([]byte, error) {
	blockOff, inBlock := r.blockOff, r.inBlock
	if r.ocf != nil && r.ocf.RemainingBlockItems() == 0 && inBlock > 0 {
		blockOff, inBlock = r.cr.n, 0
	}
	var b []byte
	for _, v := range []int64{int64(r.fileIdx), blockOff, inBlock, r.record} {
		b = binary.AppendVarint(b, v)
	}
	return b, nil
}

func (r *avroReader[T]) Close() error { return r.closeFile() }

func decodeVarints(b []byte, n int) ([]int64, error) {
	vals := make([]int64, n)
	for i := range vals {
		v, k := binary.Varint(b)
		if k <= 0 {
			return nil, fmt.Errorf("value %d of %d is cut short", i+1, n)
		}
		vals[i], b = v, b[k:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d extra bytes", len(b))
	}
	return vals, nil
}
