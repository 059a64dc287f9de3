package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

const initialLineBuffer = 64 << 10

// lineScanner reads the lines of one split of a file through ReadAt, with a
// buffer that grows to hold the longest line (there is no maximum).
type lineScanner struct {
	f    io.ReaderAt
	size int64 // file size
	end  int64 // lines starting at or after end belong to the next split

	buf     []byte
	bufOff  int64 // file offset of buf[0]
	r, w    int   // unread bytes are buf[r:w]
	scanned int   // buf[r:scanned] has no '\n' (saves rescanning huge lines)
	eof     bool  // nothing after buf[w]
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
		if _, _, ok, err := s.line(); err != nil || !ok {
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

// line reads the line at pos regardless of the split end.
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
			return line, start, true, nil
		}
		s.scanned = s.w
		if s.eof {
			if s.r == s.w {
				return nil, start, false, nil
			}
			line = s.buf[s.r:s.w] // last line without newline
			s.r, s.scanned = s.w, s.w
			return line, start, true, nil
		}
		if err := s.fill(); err != nil {
			return nil, start, false, err
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
		grown := make([]byte, 2*len(s.buf))
		copy(grown, s.buf[:s.w])
		s.buf = grown
	}
	n, err := s.f.ReadAt(s.buf[s.w:], s.bufOff+int64(s.w))
	s.w += n
	switch {
	case errors.Is(err, io.EOF) || s.bufOff+int64(s.w) >= s.size:
		s.eof = true
	case err != nil:
		return fmt.Errorf("read at offset %d: %w", s.bufOff+int64(s.w), err)
	case n == 0:
		return fmt.Errorf("read at offset %d: no progress", s.bufOff+int64(s.w))
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
