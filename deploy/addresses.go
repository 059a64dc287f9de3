package deploy

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
)

// EncodeAddresses is the shuffle table of a run's assignments
// (controlpb.Assignment.shuffle_table): the partition server address of each
// worker by index, newline-separated and DEFLATE-compressed. The job master
// encodes it once per run and every assignment carries the same bytes.
func EncodeAddresses(addrs []string) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed) // only fails for a bad level
	for i, a := range addrs {
		if i > 0 {
			w.Write([]byte{'\n'})
		}
		w.Write([]byte(a))
	}
	w.Close()
	return buf.Bytes()
}

// DecodeAddresses reads a shuffle table; want is the number of workers
// the reader's plan has.
func DecodeAddresses(table []byte, want int) ([]string, error) {
	b, err := io.ReadAll(flate.NewReader(bytes.NewReader(table)))
	if err != nil {
		return nil, fmt.Errorf("the job master's shuffle table (%d bytes): %w", len(table), err)
	}
	var addrs []string
	if len(b) > 0 || want == 1 {
		addrs = strings.Split(string(b), "\n")
	}
	if len(addrs) != want {
		return nil, fmt.Errorf("the job master sent %d partition server addresses for the %d workers of the plan: the job master and this worker disagree on the job", len(addrs), want)
	}
	return addrs, nil
}
