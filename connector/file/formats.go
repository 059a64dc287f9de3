package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/loom-yarn/loom/conf"
)

// Text reads the lines of the input files, without line terminators ("\n"
// or "\r\n", and a "\r" ending the last line) and without a UTF-8 byte
// order mark at the start of a file. Empty lines are records too. Text is
// bytes to the source; jobs take it for UTF-8.
func Text(paths ...string) *Source[string] {
	s := newSource[string](paths)
	s.newLineFormat = func() lineFormat[string] { return textFormat{} }
	return s
}

type textFormat struct{}

func (textFormat) startFile(io.ReaderAt, int64, string) error { return nil }

func (textFormat) parse(line []byte, _ int64) (string, bool, error) {
	return string(line), false, nil
}

// JSONLines reads one JSON value per line into T with encoding/json. Blank
// lines are skipped; a line that does not decode is a bad record reported as
// "path:LINE". So are lines encoding/json would decode into something else
// than they say: a line that is not valid UTF-8 (JSON text is UTF-8; the
// decoder would turn the bytes into U+FFFD, merging distinct keys), and a
// line "null" (which would decode as T's zero value, a record with no
// fields).
func JSONLines[T any](paths ...string) *Source[T] {
	s := newSource[T](paths)
	s.newLineFormat = func() lineFormat[T] { return jsonFormat[T]{} }
	return s
}

type jsonFormat[T any] struct{}

func (jsonFormat[T]) startFile(io.ReaderAt, int64, string) error { return nil }

func (jsonFormat[T]) parse(line []byte, _ int64) (v T, skip bool, err error) {
	if isBlank(line) {
		return v, true, nil
	}
	if !utf8.Valid(line) {
		return v, false, fmt.Errorf("invalid UTF-8 at byte %d of the line: JSON text must be UTF-8 (convert the file, e.g. with iconv)", invalidUTF8At(line))
	}
	if string(bytes.TrimSpace(line)) == "null" {
		return v, false, errors.New("the line is JSON null, not a record")
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return v, false, err
	}
	return v, false, nil
}

// invalidUTF8At is the 1-based position of the first byte of b that is not
// part of a valid UTF-8 sequence.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i + 1
		}
		i += n
	}
	return len(b) + 1
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
	// header's count when SkipHeader is set, and otherwise the count of
	// the file's first row: a row with more or fewer fields than the
	// others is a bad record (it is often a value with an unquoted
	// separator, "1,000", read as two). -1 accepts any count.
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

// CSVWithHeader reads CSV files whose first line names the columns, like
// CSV with SkipHeader: for each file, newParse gets the file's name and its
// header's fields and returns the parser of that file's rows. Columns are
// therefore found by name in every file, even when files order them
// differently. An error from newParse (a column missing from a header)
// fails the job; its message should name the column, and the error names
// the file and line 1.
func CSVWithHeader[T any](newParse func(file string, header []string) (func(fields []string) (T, error), error), opts CSVOptions, paths ...string) *Source[T] {
	if opts.Comma == 0 {
		opts.Comma = ','
	}
	opts.SkipHeader = true
	s := newSource[T](paths)
	s.newLineFormat = func() lineFormat[T] {
		return &csvFormat[T]{opts: opts, newParse: newParse, parsers: map[string]csvFileParser[T]{}}
	}
	return s
}

type csvFormat[T any] struct {
	convert func([]string) (T, error)
	opts    CSVOptions
	fields  []string
	want    int // expected fields in the current file, 0 for any
	buf     []byte

	// newParse and parsers, for CSVWithHeader: each file's parser and
	// field count, made from its header once per file.
	newParse func(file string, header []string) (func([]string) (T, error), error)
	parsers  map[string]csvFileParser[T]
}

type csvFileParser[T any] struct {
	parse  func([]string) (T, error)
	fields int
}

func (c *csvFormat[T]) startFile(f io.ReaderAt, size int64, name string) error {
	c.want = c.opts.Fields
	if c.newParse != nil {
		if p, ok := c.parsers[name]; ok {
			c.convert, c.want = p.parse, p.fields
			return nil
		}
	} else if c.want != 0 {
		c.want = max(c.want, 0)
		return nil
	}
	// The header, or without one the first row, gives every row's count.
	first, err := firstLine(f, size, !c.opts.SkipHeader)
	var long *lineTooLongError
	if errors.As(err, &long) && !c.opts.SkipHeader {
		return nil // reported as a bad record when read
	}
	if err != nil {
		return fmt.Errorf("read the first line of %s: %w", name, err)
	}
	if first == nil {
		return nil
	}
	fields, err := c.split(first)
	if err != nil {
		if !c.opts.SkipHeader {
			return nil // a bad first row: reported as a bad record when read
		}
		return fmt.Errorf("%s:1: bad CSV header: %w", name, err)
	}
	c.want = len(fields)
	if c.newParse != nil {
		header := append([]string(nil), fields...)
		parse, err := c.newParse(name, header)
		if err != nil {
			return fmt.Errorf("%s:1: %w", name, err)
		}
		c.parsers[name] = csvFileParser[T]{parse: parse, fields: c.want}
		c.convert = parse
	}
	return nil
}

// firstLine is the first line of a file (the first non-empty one with
// skipEmpty), nil if it has none.
func firstLine(f io.ReaderAt, size int64, skipEmpty bool) ([]byte, error) {
	var sc lineScanner
	sc.max = int(conf.SourceMaxLineLength.Default())
	if err := sc.reset(f, size, 0, size, false); err != nil {
		return nil, err
	}
	for {
		line, _, ok, err := sc.next()
		if err != nil || !ok {
			return nil, err
		}
		if len(line) > 0 || !skipEmpty {
			return line, nil
		}
	}
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
