package network

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Blocking (spilled) result partitions, for bounded jobs run stage by stage:
// the producer of a subpartition whose consumer runs in a later stage writes
// its elements to a file on the worker's local disk instead of holding them
// in memory for a consumer that does not exist yet. Once the producer wrote
// end of input the partition server serves the file to the consumer, one
// block at a time against the consumer's credit, exactly as it serves a
// pipelined subpartition: the consumer cannot tell the difference, and the
// server holds at most one block of the file in memory per subpartition.
//
// The file is a magic header followed by blocks. A block is the same bytes a
// network buffer carries (whole frames, see frame.go), behind an 8-byte
// header: its length and its CRC-32C, little-endian. The checksum finds a
// file damaged on disk before a wrong record reaches an operator.

// spillMagic starts every spill file: a file that is not one is refused.
const spillMagic = "LOOMSPL1"

const spillBlockHeader = 8

// maxSpillBlock bounds the length a block header may claim: a block is one
// buffer, and a buffer holds at most one element larger than the buffer
// size, which the frame limit keeps under 256 MiB.
const maxSpillBlock = 1<<28 + 1<<20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errSpillCorrupt is wrapped by every failure to read a spill file back.
var errSpillCorrupt = errors.New("corrupt spill file")

// SpillSender is the producer's end of a blocking subpartition: it frames
// elements into blocks and appends them to a file of the server's spill
// directory. Send never waits for the consumer (it runs in a later stage);
// it returns a disk error as it happens. After end of input the file is
// closed and the partition server serves it. Only the producer's goroutine
// may call Send.
type SpillSender struct {
	sp    *subpartition
	bc    BatchCodec
	size  int
	f     *os.File
	path  string
	block []byte // header space + the frames of the block being filled
	frame []byte
	// blocks and written count what is in the file so far.
	blocks  int
	written int64
	ended   bool
	err     error
}

// SpillSender registers the producer of blocking subpartition id and
// returns its sender, which writes to a new file in one of the server's
// spill directories (ServerConfig.SpillDirs). Batches are encoded with bc.
func (s *PartitionServer) SpillSender(id ChannelID, bc BatchCodec) (*SpillSender, error) {
	if bc == nil {
		return nil, fmt.Errorf("spill sender of subpartition %v: no batch codec", id)
	}
	dir, err := s.spillDir(id)
	if err != nil {
		return nil, fmt.Errorf("spill sender of subpartition %v: %w", id, err)
	}
	path := filepath.Join(dir, fmt.Sprintf("a%d-e%d-%d-%d.spill", id.Attempt, id.Edge, id.Producer, id.Consumer))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spill sender of subpartition %v: %w", id, err)
	}
	if _, err := f.WriteString(spillMagic); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("spill sender of subpartition %v: write %s: %w", id, path, err)
	}
	sp, err := s.subpartition(id)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.registered {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("spill sender of subpartition %v: already registered", id)
	}
	sp.registered = true
	return &SpillSender{sp: sp, bc: bc, size: s.cfg.BufferSize, f: f, path: path,
		block: make([]byte, spillBlockHeader, spillBlockHeader+s.cfg.BufferSize), written: int64(len(spillMagic))}, nil
}

// spillDir makes (once) the server's own directory under the spill
// directory id falls to, so that servers sharing a disk never clash and Stop
// removes everything this server wrote.
func (s *PartitionServer) spillDir(id ChannelID) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return "", errors.New("partition server stopped")
	}
	roots := s.cfg.SpillDirs
	if len(roots) == 0 {
		roots = []string{os.TempDir()}
	}
	if s.spillDirs == nil {
		s.spillDirs = make([]string, len(roots))
	}
	k := int(uint32(id.Producer)*31+uint32(id.Consumer)+uint32(id.Edge)*7) % len(roots)
	if s.spillDirs[k] == "" {
		d, err := os.MkdirTemp(roots[k], "loom-spill-")
		if err != nil {
			return "", fmt.Errorf("make spill directory in %s (set the container's LOCAL_DIRS or TMPDIR to a writable disk): %w", roots[k], err)
		}
		s.spillDirs[k] = d
	}
	return s.spillDirs[k], nil
}

// Send implements Sender: it appends e to the file, in blocks of about the
// buffer size. End of input closes the file and hands it to the server.
func (w *SpillSender) Send(ctx context.Context, e Element, _ *time.Duration) error {
	if w.err != nil {
		return w.err
	}
	if w.ended {
		return fmt.Errorf("spilled subpartition %v: send of a %v element after end of input", w.sp.id, e.Kind)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if w.frame, err = appendFrame(w.frame[:0], e, w.bc); err != nil {
		return fmt.Errorf("spilled subpartition %v: %w", w.sp.id, err)
	}
	fill := len(w.block) - spillBlockHeader
	if fill > 0 && fill+len(w.frame) > w.size {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.block = append(w.block, w.frame...)
	if len(w.block)-spillBlockHeader >= w.size {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if e.Kind == KindEndOfInput {
		return w.finish()
	}
	return nil
}

// flush writes the block being filled.
func (w *SpillSender) flush() error {
	data := w.block[spillBlockHeader:]
	if len(data) == 0 {
		return nil
	}
	binary.LittleEndian.PutUint32(w.block[0:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.block[4:8], crc32.Checksum(data, castagnoli))
	if _, err := w.f.Write(w.block); err != nil {
		w.err = fmt.Errorf("spilled subpartition %v: write block %d to %s: %w", w.sp.id, w.blocks, w.path, err)
		w.sp.fail(w.err)
		return w.err
	}
	w.blocks++
	w.written += int64(len(w.block))
	w.block = w.block[:spillBlockHeader]
	return nil
}

// finish closes the file and makes it servable.
func (w *SpillSender) finish() error {
	w.ended = true
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		w.err = fmt.Errorf("spilled subpartition %v: close %s: %w", w.sp.id, w.path, err)
		w.sp.fail(w.err)
		return w.err
	}
	sp := w.sp
	sp.mu.Lock()
	sp.spill = &spillFile{path: w.path, blocks: w.blocks, size: w.written}
	sp.ended = true
	c := sp.conn
	sp.mu.Unlock()
	if c != nil {
		c.wake()
	}
	return nil
}

// Spilled reports the blocks and bytes written so far and the file's path.
func (w *SpillSender) Spilled() (blocks int, bytes int64, path string) {
	return w.blocks, w.written, w.path
}

// spillFile is a finished spill file being served: only the writer of the
// connection that requested its subpartition reads it.
type spillFile struct {
	path   string
	blocks int
	size   int64
	f      *os.File // opened on the first read
	next   int      // the next block to read
	off    int64    // its offset
}

// remaining is the number of blocks not read yet: the backlog.
func (sf *spillFile) remaining() int { return sf.blocks - sf.next }

// read returns the next block's data in buf (reused when large enough),
// checking its length and checksum.
func (sf *spillFile) read(buf []byte) ([]byte, error) {
	if sf.f == nil {
		f, err := os.Open(sf.path)
		if err != nil {
			return nil, fmt.Errorf("open spill file: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("stat spill file %s: %w", sf.path, err)
		}
		if st.Size() != sf.size {
			f.Close()
			return nil, fmt.Errorf("spill file %s has %d bytes, %d were written: %w", sf.path, st.Size(), sf.size, errSpillCorrupt)
		}
		var magic [len(spillMagic)]byte
		if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != spillMagic {
			f.Close()
			return nil, fmt.Errorf("spill file %s does not start with %q: %w", sf.path, spillMagic, errSpillCorrupt)
		}
		sf.f, sf.off = f, int64(len(spillMagic))
	}
	var hdr [spillBlockHeader]byte
	if _, err := sf.f.ReadAt(hdr[:], sf.off); err != nil {
		return nil, fmt.Errorf("spill file %s: header of block %d at offset %d: %v: %w", sf.path, sf.next, sf.off, err, errSpillCorrupt)
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if n == 0 || n > maxSpillBlock || sf.off+spillBlockHeader+n > sf.size {
		return nil, fmt.Errorf("spill file %s: block %d at offset %d claims %d bytes, the file has %d: %w", sf.path, sf.next, sf.off, n, sf.size, errSpillCorrupt)
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := sf.f.ReadAt(buf, sf.off+spillBlockHeader); err != nil {
		return nil, fmt.Errorf("spill file %s: block %d at offset %d: %v: %w", sf.path, sf.next, sf.off, err, errSpillCorrupt)
	}
	if got := crc32.Checksum(buf, castagnoli); got != sum {
		return nil, fmt.Errorf("spill file %s: block %d at offset %d: checksum %08x, written %08x (the disk damaged it): %w", sf.path, sf.next, sf.off, got, sum, errSpillCorrupt)
	}
	sf.off += spillBlockHeader + n
	sf.next++
	if sf.next == sf.blocks && sf.off != sf.size {
		return nil, fmt.Errorf("spill file %s: %d bytes after its last block: %w", sf.path, sf.size-sf.off, errSpillCorrupt)
	}
	return buf, nil
}

// remove closes and deletes the file.
func (sf *spillFile) remove() {
	if sf.f != nil {
		sf.f.Close()
		sf.f = nil
	}
	os.Remove(sf.path)
}

var _ Sender = (*SpillSender)(nil)
