//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package status

import "golang.org/x/sys/unix"

// getTermios is the ioctl request that reads terminal attributes.
const getTermios = unix.TIOCGETA
