//go:build unix

package file

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// processNamespace names this process's pid namespace (Linux), so that a
// pid in a marker is only checked by processes that see the same pids.
func processNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}

// processStart is when process pid started, in clock ticks since boot
// (Linux), which tells a process from a later one given the same pid.
func processStart(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// Fields after the command, which is in parentheses and may hold
	// anything: the state is field 3, the start time field 22.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// processRunning implements processAlive with signal 0 and, where /proc
// has it, the process's start time.
func processRunning(pid int, start string) (alive, known bool) {
	if pid <= 0 {
		return false, false
	}
	err := syscall.Kill(pid, 0)
	switch {
	case errors.Is(err, syscall.ESRCH):
		return false, true
	case err != nil && !errors.Is(err, syscall.EPERM):
		return false, false
	}
	if start != "" {
		if now := processStart(pid); now != "" && now != start {
			return false, true // the pid was given to another process since
		}
	}
	return true, true
}
