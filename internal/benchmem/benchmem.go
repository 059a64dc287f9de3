// Package benchmem reports a benchmark's memory: the live heap after the
// loop, what one op allocated, and the process's peak resident set, which
// is what a container's memory limit is checked against.
package benchmem

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Memory is the heap's state when a benchmark's loop starts.
type Memory struct{ start runtime.MemStats }

// Start records the heap's state; call it just before the loop.
func Start() *Memory {
	var m Memory
	runtime.GC()
	runtime.ReadMemStats(&m.start)
	return &m
}

// Report adds three memory figures to a benchmark, after its loop: the
// heap in use (after a collection, so live data: mostly keep, the last
// op's result), what one op allocated, and the process's peak resident
// set (VmHWM), which is what a container's memory limit is checked
// against. The peak covers the whole test process, so run one benchmark
// per process to read it for that benchmark alone.
func (m *Memory) Report(b *testing.B, keep any) {
	var end runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&end)
	runtime.KeepAlive(keep)
	const mib = 1 << 20
	b.ReportMetric(float64(end.HeapInuse)/mib, "heap-MiB")
	b.ReportMetric(float64(end.TotalAlloc-m.start.TotalAlloc)/float64(b.N)/mib, "alloc-MiB/op")
	if kb, err := peakRSS(); err == nil {
		b.ReportMetric(float64(kb)/(1<<10), "VmHWM-MiB")
	}
}

// peakRSS reads the process's peak resident set size in KiB (Linux only).
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status: %v", sc.Err())
}
