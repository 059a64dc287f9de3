package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/loom-yarn/loom/conf"
)

const initialLineBuffer = 64 << 10

// utf8BOM is the byte order mark some Windows tools put at the start of a
// UTF-8 file. It is no part of the first line's text: kept, it would
// become part of the first word, key or CSV column name.
const utf8BOM = "\xef\xbb\xbf"

// unknownSize is the size of a file whose length is only known at its end
// (a compressed file, read decompressed).
const unknownSize = math.MaxInt64

// lineScanner reads the lines of one split of a file through ReadAt, with a
// buffer that grows to hold the longest line, up to max.
type lineScanner struct {
	f    io.ReaderAt
	size int64 // file size, or unknownSize
	end  int64 // lines starting at or after end belong to the next split
	// max is the longest line kept (0: no limit); a longer one is
	// skipped over and reported as a *lineTooLongError.
	max int

	buf     []byte
	bufOff  int64 // file offset of buf[0]
	r, w    int   // unread bytes are buf[r:w]
	scanned int   // buf[r:scanned] has no '\n' (saves rescanning huge lines)
	eof     bool  // nothing after buf[w]
}

// lineTooLongError is a line longer than the scanner's maximum. The scanner
// has moved past it, so the reader may report it as a bad record and go on.
type lineTooLongError struct {
	start  int64  // its offset
	length int64  // its length, or a lower bound when cut at the file's end
	prefix []byte // its first bytes, for a dead letter
	max    int
}

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("line of %d bytes or more is longer than the %s %s allows: raise it if such lines are expected, or check that the file is line-delimited text",
		e.length, conf.FormatBytes(int64(e.max)), conf.SourceMaxLineLength.Key())
}

// reset points the scanner at the split [start, end) of f. When skipPartial
// is set (a split not at offset 0, read from its start), the line containing
// byte start-1 is skipped: it belongs to the previous split. Otherwise start
// must be the first byte of a line.
func (s *lineScanner) reset(f io.ReaderAt, size, start, end int64, skipPartial bool) error {
	if s.buf == nil {
		s.buf = make([]byte, initialLineBuffer)
	}
	s.f, s.size, s.end = f, size, end
	s.bufOff, s.r, s.w, s.scanned, s.eof = start, 0, 0, 0, start >= size
	if skipPartial && start > 0 {
		s.bufOff, s.eof = start-1, false
		_, _, ok, err := s.line()
		var long *lineTooLongError
		if errors.As(err, &long) {
			return nil // skipped all the same: the previous split reports it
		}
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

// pos is the file offset of the next unread line.
func (s *lineScanner) pos() int64 { return s.bufOff + int64(s.r) }

// next returns the next line of the split without its "\n" or "\r\n" and its
// offset in the file. The line is only valid until the next call.
func (s *lineScanner) next() (line []byte, start int64, ok bool, err error) {
	if s.pos() >= s.end {
		return nil, 0, false, nil
	}
	return s.line()
}

// line reads the line at pos regardless of the split end. The first line
// of a file loses its UTF-8 byte order mark.
func (s *lineScanner) line() (line []byte, start int64, ok bool, err error) {
	start = s.pos()
	for {
		if i := bytes.IndexByte(s.buf[s.scanned:s.w], '\n'); i >= 0 {
			nl := s.scanned + i
			line = s.buf[s.r:nl]
			s.r, s.scanned = nl+1, nl+1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return trimBOM(line, start), start, true, nil
		}
		s.scanned = s.w
		if s.max > 0 && s.w-s.r > s.max {
			return nil, start, false, s.skipLong(start)
		}
		if s.eof {
			if s.r == s.w {
				return nil, start, false, nil
			}
			line = s.buf[s.r:s.w] // last line without newline
			s.r, s.scanned = s.w, s.w
			if start == 0 && string(line) == utf8BOM {
				// A file of nothing but a byte order mark has no line
				// (FuzzLineSplits found it read as one empty line).
				return nil, start, false, nil
			}
			// Its '\r' too is no part of it, as on every other line of a
			// CRLF file (FuzzLineSplits found "x\r" read as "x\r").
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return trimBOM(line, start), start, true, nil
		}
		if err := s.fill(); err != nil {
			return nil, start, false, err
		}
	}
}

func trimBOM(line []byte, start int64) []byte {
	if start == 0 {
		return bytes.TrimPrefix(line, []byte(utf8BOM))
	}
	return line
}

// skipLong moves past the line at start, already longer than max, without
// holding more of it than the buffer does, and returns its error.
func (s *lineScanner) skipLong(start int64) error {
	long := &lineTooLongError{start: start, max: s.max, prefix: bytes.Clone(s.buf[s.r:min(s.w, s.r+256)])}
	for {
		if i := bytes.IndexByte(s.buf[s.scanned:s.w], '\n'); i >= 0 {
			s.r = s.scanned + i + 1
			s.scanned = s.r
			long.length = s.bufOff + int64(s.r) - 1 - start
			return long
		}
		// Drop what was scanned: the buffer never grows for this line.
		s.bufOff += int64(s.w)
		s.r, s.w, s.scanned = 0, 0, 0
		if s.eof {
			long.length = s.bufOff - start
			return long
		}
		if err := s.fill(); err != nil {
			return err
		}
	}
}

// fill moves the unread bytes to the front of the buffer (growing it when a
// line fills it) and reads more.
func (s *lineScanner) fill() error {
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.bufOff += int64(s.r)
		s.scanned -= s.r
		s.r, s.w = 0, n
	}
	if s.w == len(s.buf) {
		size := 2 * len(s.buf)
		if s.max > 0 {
			// Room for a line of max bytes and its newline, and no more:
			// a longer one is skipped before the buffer would grow again.
			size = max(len(s.buf)+1, min(size, s.max+2))
		}
		grown := make([]byte, size)
		copy(grown, s.buf[:s.w])
		s.buf = grown
	}
	n, err := s.f.ReadAt(s.buf[s.w:], s.bufOff+int64(s.w))
	s.w += n
	end := s.bufOff + int64(s.w)
	switch {
	case errors.Is(err, io.EOF) && end < s.size && s.size != unknownSize:
		// The file had size bytes when the job listed it: a read that
		// ends before that means it was cut (logrotate's copytruncate)
		// or replaced while being read.
		return fmt.Errorf("the file ended at byte %d while being read, but it had %d bytes when the job listed it: inputs must not change while a job reads them (was it truncated or rotated?)", end, s.size)
	case errors.Is(err, io.EOF) || end >= s.size:
		s.eof = true
	case err != nil:
		return fmt.Errorf("read at offset %d: %w", end, err)
	case n == 0:
		return fmt.Errorf("read at offset %d: no progress", end)
	}
	return nil
}

// lineCounter turns a byte offset into a 1-based line number by counting
// newlines, only when an error needs one. It remembers how far it counted, so
// many bad records in one file cost one pass over it.
type lineCounter struct {
	f     io.ReaderAt
	off   int64 // newlines before off are counted
	lines int64
	buf   []byte
}

// lineAt returns the line number of the line starting at off in f.
func (c *lineCounter) lineAt(f io.ReaderAt, off int64) (int64, error) {
	if c.f != f || off < c.off {
		c.f, c.off, c.lines = f, 0, 0
	}
	if c.buf == nil {
		c.buf = make([]byte, 64<<10)
	}
	for c.off < off {
		chunk := c.buf[:min(int64(len(c.buf)), off-c.off)]
		n, err := f.ReadAt(chunk, c.off)
		c.lines += int64(bytes.Count(chunk[:n], []byte{'\n'}))
		c.off += int64(n)
		if n < len(chunk) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	return c.lines + 1, nil
}
