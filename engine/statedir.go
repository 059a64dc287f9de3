package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// stateRoot is one execution's directory of LSM state files,
// base/loom-state-<job>-<pid>-<n>, locked (flock on its LOCK file) while the
// execution lives. A process killed with SIGKILL cannot remove its state;
// the lock dies with it, so the next execution on the same host that uses
// the same base directory finds the directory unlocked and removes it
// (sweep). YARN also deletes a container's LOCAL_DIRS with the application;
// the sweep matters for loom run and for a configured
// state.backend.lsm.dir, which nobody else cleans.
type stateRoot struct {
	dir  string
	lock *os.File
}

const stateDirPrefix = "loom-state-"

var stateRootSeq atomic.Int64

// openStateRoot sweeps base of the state directories of dead executions
// and makes this execution's.
func openStateRoot(base, job string) (*stateRoot, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", base, err)
	}
	sweepStateDirs(base)
	dir := filepath.Join(base, fmt.Sprintf("%s%s-%d-%d", stateDirPrefix, sanitize(job), os.Getpid(), stateRootSeq.Add(1)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}
	return &stateRoot{dir: dir, lock: lock}, nil
}

// sweepStateDirs removes every state directory under base whose LOCK is
// not held: its execution ended without removing it (it was killed).
func sweepStateDirs(base string) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), stateDirPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			// Created but not locked yet, or its LOCK is gone: only an
			// old one is safe to remove.
			if fi, serr := os.Stat(dir); serr == nil && fi.ModTime().Before(processStart) {
				os.RemoveAll(dir)
			}
			continue
		}
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// processStart bounds which unlocked directories are old enough to be
// another process's leftovers.
var processStart = time.Now()

// Dir is the directory of subtask i of chain's LSM files.
func (r *stateRoot) Dir(chain string, i int) string {
	return filepath.Join(r.dir, fmt.Sprintf("%s-%d", sanitize(chain), i))
}

// Close removes the directory and releases its lock.
func (r *stateRoot) Close() error {
	err := os.RemoveAll(r.dir)
	r.lock.Close()
	return err
}

// sanitize keeps a name usable as one path element.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == 0 {
			return '_'
		}
		return r
	}, s)
}
