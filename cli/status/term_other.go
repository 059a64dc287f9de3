//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package status

import "os"

// IsTerminal reports whether f is a terminal; on this platform loom does not
// detect terminals and draws no status line.
func IsTerminal(f *os.File) bool { return false }

// TerminalWidth returns 0: the width is unknown on this platform.
func TerminalWidth(f *os.File) int { return 0 }
