package network_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/network"
)

// spillAll writes script(ch, batches) to a new spilled subpartition of srv.
func spillAll(t *testing.T, srv *network.PartitionServer, id network.ChannelID, batches int) *network.SpillSender {
	t.Helper()
	w, err := srv.SpillSender(id, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range script(int(id.Producer), batches) {
		if err := w.Send(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// readAll polls g until every channel ended, failing on a gate error.
func readAll(t *testing.T, g *network.Gate, within time.Duration) [][]network.Element {
	t.Helper()
	got := make([][]network.Element, g.NumChannels())
	deadline := time.After(within)
	for ended := 0; ended < g.NumChannels(); {
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		ch, e, ok := g.Poll(nil)
		if !ok {
			select {
			case <-g.Ready():
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out with %d of %d channels ended (%d elements of channel 0)", ended, g.NumChannels(), len(got[0]))
			}
			continue
		}
		got[ch] = append(got[ch], e)
		if e.Kind == network.KindEndOfInput {
			ended++
		}
	}
	return got
}

func checkScript(t *testing.T, got []network.Element, producer, batches int) {
	t.Helper()
	want := script(producer, batches)
	if len(got) != len(want) {
		t.Fatalf("producer %d: delivered %d elements, want %d", producer, len(got), len(want))
	}
	for i := range want {
		if !sameElement(got[i], want[i]) {
			t.Fatalf("producer %d element %d: got %+v, want %+v", producer, i, got[i], want[i])
		}
	}
}

// TestSpillServedUnderCredit writes two subpartitions to disk, then serves
// them to a consumer that connects afterwards and holds its channels for a
// while: the server must read no more blocks than the consumer granted
// credit for and hold at most one in memory; then everything arrives in
// order and the files are deleted once sent.
func TestSpillServedUnderCredit(t *testing.T) {
	spillDir := t.TempDir()
	const batches = 300 // ~60 KB per channel: ~15 blocks of 4 KiB
	srv, addr, _ := startServer(t, network.ServerConfig{BufferSize: 4 << 10, SpillDirs: []string{spillDir}})
	ids := []network.ChannelID{{Attempt: 3, Edge: 1, Producer: 0, Consumer: 5}, {Attempt: 3, Edge: 1, Producer: 1, Consumer: 5}}
	var ws []*network.SpillSender
	for _, id := range ids {
		w := spillAll(t, srv, id, batches)
		blocks, bytes, path := w.Spilled()
		if blocks < 10 {
			t.Fatalf("%v: %d blocks (%d bytes) in %s: want many blocks of 4 KiB", id, blocks, bytes, path)
		}
		if st, err := os.Stat(path); err != nil || st.Size() != bytes {
			t.Fatalf("%s: stat %v, %v; want %d bytes", path, st, err, bytes)
		}
		ws = append(ws, w)
	}

	ccfg := network.ClientConfig{ExclusiveBuffers: 2, FloatingBuffers: 1}
	client := network.NewPartitionClient(ccfg)
	defer client.Close()
	g := network.NewGate(len(ids), 4)
	for i, id := range ids {
		if err := client.Connect(g, i, addr, id, int64Batches); err != nil {
			t.Fatal(err)
		}
	}
	// Do not poll: the server may only read what credit allows.
	time.Sleep(200 * time.Millisecond)
	total := 0
	for i, w := range ws {
		read, held := w.SpillBlocksRead()
		if held > 1 {
			t.Errorf("channel %d: the server holds %d blocks of the file in memory, want at most 1", i, held)
		}
		q, owned := network.QueuedBuffers(g, i)
		if q > owned {
			t.Errorf("channel %d: %d buffers queued, %d owned: sent without credit", i, q, owned)
		}
		total += read
	}
	if max := len(ids)*ccfg.ExclusiveBuffers + ccfg.FloatingBuffers; total > max || total == 0 {
		t.Errorf("the server read %d blocks for consumers that granted %d credits", total, max)
	}
	got := readAll(t, g, 30*time.Second)
	for i, id := range ids {
		checkScript(t, got[i], int(id.Producer), batches)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, w := range ws {
		_, _, path := w.Spilled()
		for {
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still exists after its subpartition was sent", path)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestSpillRequestedEarly: a consumer that asks before the producer
// finished gets nothing until end of input, then all of it.
func TestSpillRequestedEarly(t *testing.T) {
	srv, addr, _ := startServer(t, network.ServerConfig{BufferSize: 1 << 10, SpillDirs: []string{t.TempDir()}})
	client := network.NewPartitionClient(network.ClientConfig{})
	defer client.Close()
	id := network.ChannelID{Attempt: 1, Edge: 2, Producer: 3, Consumer: 0}
	w, err := srv.SpillSender(id, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	g := network.NewGate(1, 4)
	if err := client.Connect(g, 0, addr, id, int64Batches); err != nil {
		t.Fatal(err)
	}
	elems := script(3, 50)
	for _, e := range elems[:len(elems)-1] {
		if err := w.Send(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if _, e, ok := g.Poll(nil); ok {
		t.Fatalf("got %+v before the producer finished: a blocking subpartition is served only when complete", e)
	}
	if err := w.Send(context.Background(), elems[len(elems)-1], nil); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, g, 10*time.Second)
	checkScript(t, got[0], 3, 50)
	if err := w.Send(context.Background(), network.Element{Kind: network.KindWatermark}, nil); err == nil {
		t.Fatal("Send after end of input succeeded")
	}
}

// TestSpillCorruption damages finished spill files in the ways a disk can:
// the consumer's gate fails with an error naming the file and what is wrong,
// never with wrong records.
func TestSpillCorruption(t *testing.T) {
	cases := []struct {
		name   string
		damage func(path string, b []byte) []byte
		want   string
	}{
		{"flipped data byte", func(_ string, b []byte) []byte { b[len(b)/2] ^= 0x40; return b }, "checksum"},
		{"truncated", func(_ string, b []byte) []byte { return b[:len(b)-100] }, "were written"},
		{"foreign file", func(_ string, b []byte) []byte { copy(b, "NOTLOOM!"); return b }, "does not start with"},
		{"block length too large", func(_ string, b []byte) []byte { b[8+3] = 0x7f; return b }, "claims"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr, _ := startServer(t, network.ServerConfig{BufferSize: 2 << 10, SpillDirs: []string{t.TempDir()}})
			id := network.ChannelID{Attempt: 1, Edge: 0, Producer: 1, Consumer: 1}
			w := spillAll(t, srv, id, 40)
			_, _, path := w.Spilled()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(path, b), 0o600); err != nil {
				t.Fatal(err)
			}
			client := network.NewPartitionClient(network.ClientConfig{})
			defer client.Close()
			g := network.NewGate(1, 4)
			if err := client.Connect(g, 0, addr, id, int64Batches); err != nil {
				t.Fatal(err)
			}
			err = waitErr(t, g, 10*time.Second)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Fatalf("error %q: want one naming %s and saying %q", err, filepath.Base(path), tc.want)
			}
		})
	}
}

// TestSpillStopRemovesFiles: a stopped server leaves no spill files behind,
// finished or not.
func TestSpillStopRemovesFiles(t *testing.T) {
	dir := t.TempDir()
	srv, _, _ := startServer(t, network.ServerConfig{SpillDirs: []string{dir}})
	spillAll(t, srv, network.ChannelID{Attempt: 1, Producer: 0}, 10)
	open, err := srv.SpillSender(network.ChannelID{Attempt: 1, Producer: 1}, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Send(context.Background(), script(1, 1)[0], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SpillSender(network.ChannelID{Attempt: 1, Producer: 1}, int64Batches); err == nil {
		t.Fatal("a second spill sender of one subpartition was accepted")
	}
	srv.Stop()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) > 0 {
		t.Fatalf("left after Stop: %v", left)
	}
}
