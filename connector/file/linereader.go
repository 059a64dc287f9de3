package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// lineFormat decodes the lines of one reader. A format is used by one reader
// only, so it may keep scratch buffers.
type lineFormat[T any] interface {
	// startFile is called before the first line of each split, with the
	// file it belongs to (CSV reads the header there): its bytes (the
	// decompressed ones of a compressed file) and their size, unknownSize
	// if not known before the end.
	startFile(f io.ReaderAt, size int64, name string) error
	// parse decodes the line that starts at offset off. skip drops the line
	// silently (a header, a blank line); err makes it a bad record.
	parse(line []byte, off int64) (v T, skip bool, err error)
}

// lineReader reads the splits i, i+n, i+2n, ... of a plan, line by line.
//
// Its position is (split, offset): offset is the file offset of the next line
// to return, or -1 when split has not been started (it then starts at the
// split's beginning, skipping the partial first line).
type lineReader[T any] struct {
	list        *listing
	plan        *splitPlan
	format      lineFormat[T]
	subtask     int
	parallelism int

	split  int
	offset int64

	ctx     *task.Context
	file    vfs.ReadableFile // open file of the current split, nil between splits
	fileIdx int
	// data is what lines are read from: file itself, or its decompressed
	// bytes; size is their size (unknownSize for a compressed file).
	data io.ReaderAt
	size int64
	// counted is what lines reads to number lines: data, or for a
	// compressed file a second decompression of it, opened when a bad
	// record needs a line number, so that counting does not make data
	// start again.
	counted io.ReaderAt
	sc      lineScanner
	lines   lineCounter
	ended   bool
}

func newLineReader[T any](l *listing, p *splitPlan, f lineFormat[T], subtask, parallelism int) *lineReader[T] {
	return &lineReader[T]{list: l, plan: p, format: f, subtask: subtask, parallelism: parallelism,
		split: subtask, offset: -1, fileIdx: -1}
}

// Open reads the longest line allowed (source.file.max-line-length) from
// the job's configuration and restores the position from ctx.Restored, if
// any.
func (r *lineReader[T]) Open(ctx *task.Context) error {
	r.ctx = ctx
	maxLine, err := maxLineLengthOf(ctx)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	r.sc.max = maxLine
	if ctx != nil && ctx.Restored != nil {
		split, off, err := decodePosition(ctx.Restored, r.plan)
		if err != nil {
			return err
		}
		if split%r.parallelism != r.subtask {
			return fmt.Errorf("file source: restored split %d does not belong to subtask %d of %d", split, r.subtask, r.parallelism)
		}
		r.split, r.offset = split, off
	}
	return nil
}

// Read appends the next lines to b, moving on to the next split as each ends.
func (r *lineReader[T]) Read(b *task.Batch[T]) (task.ReadStatus, error) {
	if r.ended {
		return task.ReadStatus{End: true}, nil
	}
	n0 := b.Len()
	for b.Len() < cap(b.Values) {
		if r.file == nil {
			if r.split >= len(r.plan.splits) {
				r.ended = true
				if b.Len() > n0 {
					return task.ReadStatus{}, nil // End on the next call, with no records
				}
				return task.ReadStatus{End: true}, nil
			}
			if err := r.openSplit(); err != nil {
				return task.ReadStatus{}, err
			}
		}
		line, off, ok, err := r.sc.next()
		var long *lineTooLongError
		if errors.As(err, &long) {
			r.offset = r.sc.pos()
			if err := r.badRecord(long.prefix, long.start, long); err != nil {
				return task.ReadStatus{}, err
			}
			continue
		}
		if err != nil {
			return task.ReadStatus{}, fmt.Errorf("read %s: %w", r.list.files[r.fileIdx].name, err)
		}
		if !ok {
			// The split is read: the file must still be what was listed,
			// or what was read of it may be a mix of two versions.
			if err := r.list.files[r.fileIdx].unchanged(); err != nil {
				return task.ReadStatus{}, err
			}
			r.split += r.parallelism
			r.offset = -1
			if err := r.closeFile(); err != nil {
				return task.ReadStatus{}, err
			}
			continue
		}
		r.offset = r.sc.pos()
		v, skip, perr := r.format.parse(line, off)
		if perr != nil {
			if err := r.badRecord(line, off, perr); err != nil {
				return task.ReadStatus{}, err
			}
			continue
		}
		if !skip {
			b.Append(task.NoTimestamp, v)
		}
	}
	return task.ReadStatus{}, nil
}

func (r *lineReader[T]) badRecord(line []byte, off int64, perr error) error {
	in := &r.list.files[r.fileIdx]
	where := fmt.Sprintf("%s@%d", in.name, off)
	if r.counted == nil {
		r.counted = r.data
		if in.codec != nil {
			r.counted = newDecompressedFile(r.file, in.size, in.codec, in.name)
		}
	}
	if n, err := r.lines.lineAt(r.counted, off); err == nil {
		where = fmt.Sprintf("%s:%d", in.name, n)
	}
	var policy *task.BadRecordPolicy
	if r.ctx != nil {
		policy = r.ctx.BadRecords
	}
	return policy.Handle(where, line, perr)
}

// openSplit opens the file of the current split and positions the scanner.
func (r *lineReader[T]) openSplit() error {
	sp := r.plan.splits[r.split]
	in := r.list.files[sp.file]
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
	r.file, r.fileIdx = f, sp.file
	r.data, r.size, r.counted = f, in.size, nil
	if in.codec != nil {
		r.data, r.size = newDecompressedFile(f, in.size, in.codec, in.name), unknownSize
	}
	if err := r.format.startFile(r.data, r.size, in.name); err != nil {
		return err
	}
	start, skipPartial := sp.start, true
	if r.offset >= 0 {
		start, skipPartial = r.offset, false
	}
	if err := r.sc.reset(r.data, r.size, start, sp.end, skipPartial); err != nil {
		return fmt.Errorf("read %s: %w", in.name, err)
	}
	return nil
}

func (r *lineReader[T]) closeFile() error {
	if r.file == nil {
		return nil
	}
	for _, d := range []io.ReaderAt{r.data, r.counted} {
		if d, ok := d.(*decompressedFile); ok {
			d.Close()
		}
	}
	r.data, r.counted = nil, nil
	err := r.file.Close()
	r.file = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", r.list.files[r.fileIdx].name, err)
	}
	return nil
}

// maxLineLengthOf reads source.file.max-line-length from a task's job
// configuration.
func maxLineLengthOf(ctx *task.Context) (int, error) {
	key := conf.SourceMaxLineLength.Key()
	if ctx == nil {
		return int(conf.SourceMaxLineLength.Default()), nil
	}
	v, ok := ctx.Config[key]
	if !ok {
		return int(conf.SourceMaxLineLength.Default()), nil
	}
	c := conf.New()
	if err := c.Set(key, v, "the job configuration"); err != nil {
		return 0, err
	}
	return int(conf.SourceMaxLineLength.Get(c)), nil
}

// Snapshot returns the position: the first line not yet returned.
func (r *lineReader[T]) Snapshot() ([]byte, error) {
	return encodePosition(r.plan, r.split, r.offset), nil
}

// Close closes the open file, if any.
func (r *lineReader[T]) Close() error { return r.closeFile() }

// Positions are encoded as: version byte, the plan's split size and split
// count (to refuse a restore against a different listing or parallelism),
// the split index and the offset.
const positionVersion = 1

func encodePosition(p *splitPlan, split int, offset int64) []byte {
	b := []byte{positionVersion}
	b = binary.AppendVarint(b, p.size)
	b = binary.AppendUvarint(b, uint64(len(p.splits)))
	b = binary.AppendUvarint(b, uint64(split))
	return binary.AppendVarint(b, offset)
}

var errBadPosition = errors.New("file source: corrupt checkpoint position")

func decodePosition(b []byte, p *splitPlan) (split int, offset int64, err error) {
	if len(b) == 0 || b[0] != positionVersion {
		return 0, 0, errBadPosition
	}
	b = b[1:]
	var vals [4]int64
	for i := range vals {
		var n int
		if i == 1 || i == 2 {
			var u uint64
			u, n = binary.Uvarint(b)
			vals[i] = int64(u)
		} else {
			vals[i], n = binary.Varint(b)
		}
		if n <= 0 {
			return 0, 0, errBadPosition
		}
		b = b[n:]
	}
	if vals[0] != p.size || vals[1] != int64(len(p.splits)) {
		return 0, 0, fmt.Errorf("file source: the checkpoint was taken with %d splits of %d bytes, now there are %d of %d: restore needs the same input files and parallelism", vals[1], vals[0], len(p.splits), p.size)
	}
	// A split past the plan's end is a reader that ended; a negative one,
	// or an offset before the "not started" -1, is no position at all
	// (found by FuzzPositionDecode: it indexed the plan at -2).
	if vals[2] < 0 || vals[3] < -1 {
		return 0, 0, errBadPosition
	}
	return int(vals[2]), vals[3], nil
}
