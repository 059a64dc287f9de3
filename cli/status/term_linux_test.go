//go:build linux

package status

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIsTerminalPTY(t *testing.T) {
	// The master side of a pseudo-terminal answers terminal ioctls.
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer pty.Close()
	if !IsTerminal(pty) {
		t.Fatal("a pseudo-terminal is not reported as a terminal")
	}
	if err := unix.IoctlSetWinsize(int(pty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 132}); err != nil {
		t.Skipf("cannot set the pseudo-terminal size: %v", err)
	}
	if got := TerminalWidth(pty); got != 132 {
		t.Fatalf("TerminalWidth = %d, want 132", got)
	}
}
