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
// The sink publishes part files at end of input only, so it suits bounded
// jobs; an unbounded job's output stays in hidden in-progress files.
package file

import (
	"fmt"
	"sort"
	"sync"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// DefaultSplitSize is the largest split a source cuts when not told otherwise.
const DefaultSplitSize = 64 << 20

// MinSplitSize is the smallest split the source cuts on its own to give every
// subtask work; a smaller SplitSize set by the user is still honoured.
const MinSplitSize = 1 << 20

// inputFile is one listed input file.
type inputFile struct {
	fsys vfs.FS
	path string // inside fsys
	name string // as shown to the user (with the URI scheme if any)
	size int64
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
			files = append(files, inputFile{fsys: fsys, path: n, name: prefix + n, size: fi.Size()})
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
	for i, f := range l.files {
		sizes[i] = f.size
	}
	var p *splitPlan
	if s.newLineFormat != nil {
		p = planSplits(sizes, s.splitSize, parallelism)
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
