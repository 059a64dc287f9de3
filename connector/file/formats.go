package file

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/loom-yarn/loom/vfs"
)

// Text reads the lines of the input files, without line terminators ("\n"
// or "\r\n"). Empty lines are records too.
func Text(paths ...string) *Source[string] {
	s := newSource[string](paths)
	s.newLineFormat = func() lineFormat[string] { return textFormat{} }
	return s
}

type textFormat struct{}

func (textFormat) startFile(vfs.ReadableFile, string) error { return nil }

func (textFormat) parse(line []byte, _ int64) (string, bool, error) {
	return string(line), false, nil
}

// JSONLines reads one JSON value per line into T with encoding/json. Blank
// lines are skipped; a line that does not decode is a bad record reported as
// "path:LINE".
func JSONLines[T any](paths ...string) *Source[T] {
	s := newSource[T](paths)
	s.newLineFormat = func() lineFormat[T] { return jsonFormat[T]{} }
	return s
}

type jsonFormat[T any] struct{}

func (jsonFormat[T]) startFile(vfs.ReadableFile, string) error { return nil }

func (jsonFormat[T]) parse(line []byte, _ int64) (v T, skip bool, err error) {
	if isBlank(line) {
		return v, true, nil
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return v, false, err
	}
	return v, false, nil
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// CSVOptions configure CSV parsing.
type CSVOptions struct {
	// Comma is the field separator (default ',').
	Comma rune
	// SkipHeader drops the first line of every file.
	SkipHeader bool
	// Fields is the number of fields every row must have. 0 takes the
	// header's count when SkipHeader is set and checks nothing otherwise.
	Fields int
}

// CSV reads RFC 4180 rows, one per line, and converts each with parse. A row
// with a quoting error, the wrong number of fields, or for which parse fails
// is a bad record reported as "path:LINE". Quoted fields may contain the
// separator and doubled quotes but not newlines: splits cut files at line
// boundaries. Empty lines are skipped. parse must not keep fields (the
// slice is reused) but may keep its strings.
func CSV[T any](parse func(fields []string) (T, error), opts CSVOptions, paths ...string) *Source[T] {
	if opts.Comma == 0 {
		opts.Comma = ','
	}
	s := newSource[T](paths)
	s.newLineFormat = func() lineFormat[T] { return &csvFormat[T]{convert: parse, opts: opts} }
	return s
}

type csvFormat[T any] struct {
	convert func([]string) (T, error)
	opts    CSVOptions
	fields  []string
	want    int // expected fields in the current file, 0 for any
	buf     []byte
}

func (c *csvFormat[T]) startFile(f vfs.ReadableFile, name string) error {
	c.want = c.opts.Fields
	if c.want != 0 || !c.opts.SkipHeader {
		return nil
	}
	var sc lineScanner
	if err := sc.reset(f, f.Size(), 0, 1, false); err != nil {
		return fmt.Errorf("read header of %s: %w", name, err)
	}
	header, _, ok, err := sc.next()
	if err != nil {
		return fmt.Errorf("read header of %s: %w", name, err)
	}
	if !ok {
		return nil
	}
	fields, err := c.split(header)
	if err != nil {
		return fmt.Errorf("%s:1: bad CSV header: %w", name, err)
	}
	c.want = len(fields)
	return nil
}

func (c *csvFormat[T]) parse(line []byte, off int64) (v T, skip bool, err error) {
	if off == 0 && c.opts.SkipHeader {
		return v, true, nil
	}
	if len(line) == 0 {
		return v, true, nil
	}
	fields, err := c.split(line)
	if err != nil {
		return v, false, err
	}
	if c.want != 0 && len(fields) != c.want {
		return v, false, fmt.Errorf("row has %d fields, want %d", len(fields), c.want)
	}
	v, err = c.convert(fields)
	return v, false, err
}

// split cuts a line into fields. Unquoted fields share one string made from
// the line; a quoted field with doubled quotes gets its own.
func (c *csvFormat[T]) split(line []byte) ([]string, error) {
	s := string(line)
	comma := c.opts.Comma
	fields := c.fields[:0]
	i := 0
	for {
		if i < len(s) && s[i] == '"' {
			// Quoted field: runs to the closing quote, "" is a quote.
			j := i + 1
			escaped := false
			for {
				k := indexByteFrom(s, j, '"')
				if k < 0 {
					return nil, fmt.Errorf("field %d: quoted field is not closed (a CSV row must be on one line)", len(fields)+1)
				}
				if k+1 < len(s) && s[k+1] == '"' {
					escaped = true
					j = k + 2
					continue
				}
				field := s[i+1 : k]
				if escaped {
					c.buf = c.buf[:0]
					for q := 0; q < len(field); q++ {
						c.buf = append(c.buf, field[q])
						if field[q] == '"' {
							q++
						}
					}
					field = string(c.buf)
				}
				fields = append(fields, field)
				i = k + 1
				break
			}
			if i == len(s) {
				c.fields = fields
				return fields, nil
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != comma {
				return nil, fmt.Errorf("field %d: unexpected %q after closing quote", len(fields), r)
			}
			i += size
			continue
		}
		// Unquoted field: runs to the next separator.
		j := i
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == comma {
				break
			}
			if r == '"' {
				return nil, fmt.Errorf("field %d: bare quote in unquoted field (quote the field and double the quote)", len(fields)+1)
			}
			j += size
		}
		fields = append(fields, s[i:j])
		if j == len(s) {
			c.fields = fields
			return fields, nil
		}
		_, size := utf8.DecodeRuneInString(s[j:])
		i = j + size
	}
}

func indexByteFrom(s string, from int, c byte) int {
	for k := from; k < len(s); k++ {
		if s[k] == c {
			return k
		}
	}
	return -1
}
