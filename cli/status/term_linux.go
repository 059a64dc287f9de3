//go:build linux

package status

import "golang.org/x/sys/unix"

// getTermios is the ioctl request that reads terminal attributes.
const getTermios = unix.TCGETS
