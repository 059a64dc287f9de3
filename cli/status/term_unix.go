//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package status

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal, where a redrawn status line
// makes sense (not a file, pipe or YARN container log).
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), getTermios)
	return err == nil
}

// TerminalWidth returns f's column count, or 0 when f is not a terminal or
// does not know its size (Line then assumes 80).
func TerminalWidth(f *os.File) int {
	if f == nil {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
