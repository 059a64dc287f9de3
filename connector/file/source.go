// Package file holds loom's file connectors: bounded, splittable sources for
// text lines, CSV, JSON lines and Avro container files, and a sink writing
// one part file per subtask that is published atomically at the end of input.
//
// Sources list their input in Validate (the runner calls it before starting
// tasks, see connector.Validator; NewReader lists too if it was not called).
// Files are sorted by path, cut into byte-range splits, and split i goes to
// subtask i mod parallelism. Line splits follow Hadoop's LineRecordReader: a
// split reads every line that starts before its end, and a split not at
// offset 0 skips the line it starts in, which the previous split reads.
//
// A reader's checkpoint position is (split, byte offset of the next line) for
// line formats and (file, block offset, records into the block) for Avro. A
// restore needs the same input files and parallelism: the split plan depends
// on both, and a restore against another plan fails with an error saying so.
//
// Inputs are regular files that must not change while a job reads them:
// each file's size and modification time are recorded at listing, and a
// file that differs later, or ends early, fails the job naming it. Files
// named .gz, .bz2, .deflate, .zst or .snappy are read decompressed, each
// as one split. A line longer than source.file.max-line-length is a bad
// record. See docs/connectors.md.
//
// The sink is two-phase: part files roll by size and age, are committed
// by completed checkpoints, and the directory is owned by one run at a
// time (owner.go).
package file

import (
	"fmt"
	iofs "io/fs"
	"sort"
	"sync"
	"time"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// DefaultSplitSize is the largest split a source cuts when not told otherwise.
const DefaultSplitSize = 64 << 20

// MinSplitSize is the smallest split the source cuts on its own to give every
// subtask work; a smaller SplitSize set by the user is still honoured.
const MinSplitSize = 1 << 20

// inputFile is one listed input file, with what it was when the job
// planned its splits: a file that changes later fails the read, naming it.
type inputFile struct {
	fsys    vfs.FS
	path    string // inside fsys
	name    string // as shown to the user (with the URI scheme if any)
	size    int64
	modTime time.Time
	// codec decompresses the file, nil for a plain one (see codecOf).
	codec *codec
}

// unchanged checks that the file still has the size and modification time
// it was listed with: a file truncated (logrotate's copytruncate),
// rewritten or appended to while a job reads it would give partial or
// mixed results.
func (in *inputFile) unchanged() error {
	fi, err := in.fsys.Stat(in.path)
	if err != nil {
		return fmt.Errorf("input %s: %w", in.name, err)
	}
	return in.same(fi.Size(), fi.ModTime())
}

func (in *inputFile) same(size int64, mod time.Time) error {
	switch {
	case size != in.size:
		return fmt.Errorf("input %s: size changed from %d to %d bytes since the job listed it: inputs must not change while a job reads them (was it truncated or rotated?)", in.name, in.size, size)
	case !mod.Equal(in.modTime):
		return fmt.Errorf("input %s: modified at %s, after the job listed it (modified at %s): inputs must not change while a job reads them", in.name, mod.Format(time.RFC3339Nano), in.modTime.Format(time.RFC3339Nano))
	}
	return nil
}

// listing is the validated input of a source: files sorted by name.
type listing struct {
	files []inputFile
	total int64
}

// Source is a bounded file source producing records of type T. Make one with
// Text, CSV, JSONLines or Avro. It implements task.Source[T] and
// connector.Validator.
type Source[T any] struct {
	paths     []string
	splitSize int64
	// newLineFormat makes the per-reader decoder of a line format; nil for Avro.
	newLineFormat func() lineFormat[T]
	// convert turns an Avro datum into T; nil for line formats.
	convert func(native any) (T, error)

	once sync.Once
	list *listing
	err  error

	planMu sync.Mutex
	plans  map[int]*splitPlan // by parallelism
}

var _ task.Source[string] = (*Source[string])(nil)

// WithSplitSize sets the largest split in bytes (default DefaultSplitSize).
// It returns s for chaining and must be called before Validate or NewReader.
func (s *Source[T]) WithSplitSize(n int64) *Source[T] {
	if n <= 0 {
		n = DefaultSplitSize
	}
	s.splitSize = n
	return s
}

// Bounded is true: files end.
func (s *Source[T]) Bounded() bool { return true }

// Validate lists the input paths. A path matching nothing fails with an error
// naming it ("input /x/y.txt: no such file or directory"). The result is kept:
// later readers of this Source see the same files.
func (s *Source[T]) Validate() error {
	_, err := s.listing()
	return err
}

// Files returns the listed input files as the user names them, sorted.
func (s *Source[T]) Files() ([]string, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(l.files))
	for i, f := range l.files {
		names[i] = f.name
	}
	return names, nil
}

func (s *Source[T]) listing() (*listing, error) {
	s.once.Do(func() { s.list, s.err = listInputs(s.paths) })
	return s.list, s.err
}

func listInputs(paths []string) (*listing, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("file source: no input paths given")
	}
	var files []inputFile
	for _, p := range paths {
		fsys, inner, err := vfs.Resolve(p)
		if err != nil {
			return nil, err
		}
		prefix := vfs.Prefix(p)
		names, err := vfs.List(fsys, inner)
		if err != nil {
			if prefix != "" {
				return nil, fmt.Errorf("%w (in %s)", err, p)
			}
			return nil, err
		}
		for _, n := range names {
			fi, err := fsys.Stat(n)
			if err != nil {
				return nil, fmt.Errorf("input %s%s: %w", prefix, n, err)
			}
			if err := regularFile(prefix+n, fi); err != nil {
				return nil, err
			}
			c, err := codecOf(prefix + n)
			if err != nil {
				return nil, err
			}
			files = append(files, inputFile{fsys: fsys, path: n, name: prefix + n, size: fi.Size(), modTime: fi.ModTime(), codec: c})
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].name < files[j].name })
	l := &listing{}
	for i, f := range files {
		if i > 0 && f.name == files[i-1].name {
			continue // named by two patterns
		}
		l.files = append(l.files, f)
		l.total += f.size
	}
	return l, nil
}

// regularFile refuses an input that is not a regular file: a pipe, FIFO,
// socket or device (/dev/stdin, <(...), /dev/zero) reports size 0 or none,
// so it would read as empty, and it cannot be read again by a restore or
// cut into splits.
func regularFile(name string, fi iofs.FileInfo) error {
	mode := fi.Mode()
	if mode.IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch {
	case mode&iofs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), such as /dev/stdin or a shell's <(...)"
	case mode&iofs.ModeCharDevice != 0:
		what = "a character device, such as /dev/null or /dev/zero"
	case mode&iofs.ModeDevice != 0:
		what = "a device"
	case mode&iofs.ModeSocket != 0:
		what = "a socket"
	case mode&iofs.ModeIrregular != 0:
		what = "an irregular file"
	}
	return fmt.Errorf("input %s is %s: file sources read regular files only, by byte ranges, and read them again on a restore; write the data to a file first (e.g. cmd > in.txt) and read that", name, what)
}

// plan returns the split plan for a parallelism, computing it once.
func (s *Source[T]) plan(parallelism int) (*splitPlan, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	s.planMu.Lock()
	defer s.planMu.Unlock()
	if p, ok := s.plans[parallelism]; ok {
		return p, nil
	}
	if s.plans == nil {
		s.plans = map[int]*splitPlan{}
	}
	sizes := make([]int64, len(l.files))
	whole := make([]bool, len(l.files))
	for i, f := range l.files {
		sizes[i] = f.size
		whole[i] = f.codec != nil
	}
	var p *splitPlan
	if s.newLineFormat != nil {
		p = planSplits(sizes, whole, s.splitSize, parallelism)
	} else {
		p = planWholeFiles(sizes)
	}
	s.plans[parallelism] = p
	return p, nil
}

// NewReader returns the reader of subtask i of n: it reads splits i, i+n, ...
func (s *Source[T]) NewReader(subtask, parallelism int) (task.SourceReader[T], error) {
	if parallelism < 1 || subtask < 0 || subtask >= parallelism {
		return nil, fmt.Errorf("file source: subtask %d of %d is out of range", subtask, parallelism)
	}
	p, err := s.plan(parallelism)
	if err != nil {
		return nil, err
	}
	if s.newLineFormat != nil {
		return newLineReader(s.list, p, s.newLineFormat(), subtask, parallelism), nil
	}
	return newAvroReader(s.list, s.convert, subtask, parallelism), nil
}

func newSource[T any](paths []string) *Source[T] {
	return &Source[T]{paths: append([]string(nil), paths...), splitSize: DefaultSplitSize}
}
