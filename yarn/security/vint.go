package security

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Hadoop's Writable serialisation (credentials file version 0) encodes
// integers with WritableUtils.writeVLong, which is not a protobuf varint:
// values in [-112, 127] are one byte; otherwise a first byte says the sign
// and how many big-endian magnitude bytes follow (-113..-120 positive,
// -121..-128 negative, the magnitude of a negative value being ^v).

// appendVLong appends v in Hadoop's variable-length encoding.
func appendVLong(b []byte, v int64) []byte {
	if v >= -112 && v <= 127 {
		return append(b, byte(v))
	}
	first := int64(-112)
	if v < 0 {
		v = ^v
		first = -120
	}
	n := 0
	for tmp := v; tmp != 0; tmp >>= 8 {
		n++
	}
	b = append(b, byte(first-int64(n)))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// readVLong reads one value written by appendVLong.
func readVLong(r *bufio.Reader) (int64, error) {
	fb, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	first := int8(fb)
	if first >= -112 {
		return int64(first), nil
	}
	negative := first < -120
	n := int(-112 - first)
	if negative {
		n = int(-120 - first)
	}
	var v int64
	for i := 0; i < n; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		v = v<<8 | int64(c)
	}
	if negative {
		v = ^v
	}
	return v, nil
}

// readLen reads a vint length and checks it against what is plausible, so
// a corrupt file cannot make the reader allocate gigabytes.
func readLen(r *bufio.Reader, what string) (int, error) {
	v, err := readVLong(r)
	if err != nil {
		return 0, fmt.Errorf("%s length: %w", what, noEOF(err))
	}
	if v < 0 || v > maxField {
		return 0, fmt.Errorf("%s length %d out of range [0, %d]", what, v, maxField)
	}
	return int(v), nil
}

// readBytes reads a vint length and that many bytes.
func readBytes(r *bufio.Reader, what string) ([]byte, error) {
	n, err := readLen(r, what)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%s (%d bytes): %w", what, n, noEOF(err))
	}
	return b, nil
}

// appendBytes appends a vint length and b; a Hadoop Text is the same with
// UTF-8 bytes.
func appendBytes(dst, b []byte) []byte {
	return append(appendVLong(dst, int64(len(b))), b...)
}

// noEOF turns a clean EOF inside a structure into ErrUnexpectedEOF: the
// file ended in the middle of something.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
