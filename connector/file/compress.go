package file

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// codec decompresses an input file that its name says is compressed. Line
// sources decompress such files as they read them, as Hadoop's
// TextInputFormat does: a compressed file is one split, read by one subtask
// from its start, and positions in it (checkpoints, error messages) count
// uncompressed bytes.
type codec struct {
	name string // for messages
	// open starts decompressing r, which reads the file from its start.
	open func(r io.Reader) (io.ReadCloser, error)
}

// codecs are the compressions line sources read, by file name extension:
// those of Hadoop's codecs that a well-kept Go library decodes.
var codecs = map[string]*codec{
	".gz":      {name: "gzip", open: openGzip},
	".bz2":     {name: "bzip2", open: func(r io.Reader) (io.ReadCloser, error) { return io.NopCloser(bzip2.NewReader(r)), nil }},
	".deflate": {name: "zlib (Hadoop's DefaultCodec)", open: func(r io.Reader) (io.ReadCloser, error) { return zlib.NewReader(r) }},
	".zst":     {name: "zstd", open: openZstd},
	".snappy":  {name: "snappy", open: openSnappy},
}

// unreadable are the compressed and archive formats line sources refuse,
// rather than read their bytes as text.
var unreadable = map[string]string{
	".lz4":  "Hadoop's lz4",
	".lzo":  "lzo",
	".xz":   "xz",
	".zip":  "a zip archive",
	".7z":   "a 7-zip archive",
	".tgz":  "a gzip-compressed tar archive",
	".tar":  "a tar archive",
	".br":   "brotli",
	".z":    "compress (.Z)",
	".lzma": "lzma",
}

// codecOf returns the codec of a file name, nil for a plain file, or an
// error for a compression loom does not read.
func codecOf(name string) (*codec, error) {
	ext := strings.ToLower(path.Ext(name))
	if c, ok := codecs[ext]; ok {
		return c, nil
	}
	if what, ok := unreadable[ext]; ok {
		return nil, fmt.Errorf("input %s: its name says it is %s, which loom's file sources do not read; decompress it first (loom reads .gz, .bz2, .deflate, .zst and .snappy files as they are)", name, what)
	}
	return nil, nil
}

func openGzip(r io.Reader) (io.ReadCloser, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	return zr, nil
}

// maxZstdWindow bounds the memory a zstd frame may ask the decoder for.
const maxZstdWindow = 256 << 20

func openZstd(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// snappyFramingMagic starts a file in the snappy framing format (what
// most snappy tools write); Hadoop's SnappyCodec writes its own block
// format instead. A .snappy file may be either.
var snappyFramingMagic = []byte("\xff\x06\x00\x00sNaPpY")

func openSnappy(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(snappyFramingMagic))
	if bytes.Equal(head, snappyFramingMagic) {
		return io.NopCloser(snappy.NewReader(br)), nil
	}
	return io.NopCloser(&hadoopBlockReader{r: br}), nil
}

// maxHadoopBlock bounds a block of Hadoop's block-compressed streams: its
// writers cut blocks of io.compression.codec.snappy.buffersize, 256 KiB
// by default.
const maxHadoopBlock = 64 << 20

// hadoopBlockReader decodes Hadoop's BlockCompressorStream format, which
// its SnappyCodec writes: blocks of a 4-byte big-endian uncompressed
// length, then chunks of a 4-byte big-endian compressed length and a raw
// snappy block, until the chunks make up the block's length.
type hadoopBlockReader struct {
	r    *bufio.Reader
	left int64  // uncompressed bytes of the current block not yet decoded
	out  []byte // decoded bytes not yet returned
	in   []byte // scratch for a compressed chunk
	err  error
}

func (h *hadoopBlockReader) Read(p []byte) (int, error) {
	for len(h.out) == 0 {
		if h.err != nil {
			return 0, h.err
		}
		h.err = h.next()
	}
	n := copy(p, h.out)
	h.out = h.out[n:]
	return n, nil
}

// next decodes the next chunk into out.
func (h *hadoopBlockReader) next() error {
	var n [4]byte
	if h.left == 0 {
		if _, err := io.ReadFull(h.r, n[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("hadoop snappy block header: %w", io.ErrUnexpectedEOF)
		}
		h.left = int64(binary.BigEndian.Uint32(n[:]))
		if h.left > maxHadoopBlock {
			return fmt.Errorf("hadoop snappy block of %d bytes: more than the %d a block may have", h.left, maxHadoopBlock)
		}
		return nil // an empty block, or the next call reads its first chunk
	}
	if _, err := io.ReadFull(h.r, n[:]); err != nil {
		return fmt.Errorf("hadoop snappy chunk header (%d bytes of the block left): %w", h.left, io.ErrUnexpectedEOF)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > maxHadoopBlock {
		return fmt.Errorf("hadoop snappy chunk of %d bytes: corrupt", size)
	}
	if cap(h.in) < int(size) {
		h.in = make([]byte, size)
	}
	h.in = h.in[:size]
	if _, err := io.ReadFull(h.r, h.in); err != nil {
		return fmt.Errorf("hadoop snappy chunk of %d bytes: %w", size, io.ErrUnexpectedEOF)
	}
	dlen, err := snappy.DecodedLen(h.in)
	if err != nil {
		return fmt.Errorf("hadoop snappy chunk: %w", err)
	}
	if int64(dlen) > h.left {
		return fmt.Errorf("hadoop snappy chunk decodes to %d bytes, more than the %d left in its block", dlen, h.left)
	}
	out, err := snappy.Decode(nil, h.in)
	if err != nil {
		return fmt.Errorf("hadoop snappy chunk: %w", err)
	}
	h.left -= int64(len(out))
	h.out = out
	return nil
}

// decompressedFile reads a compressed file's uncompressed bytes through
// ReaderAt, for the line scanner: reads go forward, so it decompresses as
// it goes, skipping forward when asked for a later offset and starting
// again from the file's start when asked for an earlier one (rare: a
// restore, a header re-read).
type decompressedFile struct {
	f     io.ReaderAt
	size  int64 // compressed size
	codec *codec
	name  string // the file, for messages

	r   io.ReadCloser
	off int64 // uncompressed offset r is at
}

func newDecompressedFile(f io.ReaderAt, size int64, c *codec, name string) *decompressedFile {
	return &decompressedFile{f: f, size: size, codec: c, name: name}
}

func (d *decompressedFile) restart() error {
	if d.r != nil {
		d.r.Close()
		d.r = nil
	}
	r, err := d.codec.open(bufio.NewReaderSize(io.NewSectionReader(d.f, 0, d.size), 256<<10))
	if err != nil {
		return d.damaged(err)
	}
	d.r, d.off = r, 0
	return nil
}

func (d *decompressedFile) damaged(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s is damaged or cut short (%s data, at uncompressed byte %d): %w", d.name, d.codec.name, d.off, err)
}

// ReadAt reads uncompressed bytes at off. It returns io.EOF only at the
// true end of the data; damaged or cut data is another error.
func (d *decompressedFile) ReadAt(p []byte, off int64) (int, error) {
	if d.r == nil || off < d.off {
		if err := d.restart(); err != nil {
			return 0, err
		}
	}
	if off > d.off {
		n, err := io.CopyN(io.Discard, d.r, off-d.off)
		d.off += n
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		if err != nil {
			return 0, d.damaged(err)
		}
	}
	n, stalls := 0, 0
	for n < len(p) {
		k, err := d.r.Read(p[n:])
		n += k
		d.off += int64(k)
		switch {
		case errors.Is(err, io.EOF):
			return n, io.EOF
		case err != nil:
			return n, d.damaged(err)
		case k == 0:
			if stalls++; stalls > 100 {
				return n, d.damaged(io.ErrNoProgress)
			}
		}
	}
	return n, nil
}

// Close stops the decompressor; the file is closed by its opener.
func (d *decompressedFile) Close() error {
	if d.r == nil {
		return nil
	}
	err := d.r.Close()
	d.r = nil
	return err
}
