package task

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// BadRecordPolicy says what a malformed input record does: fail the job
// (default) or skip it, counting it and optionally writing it to a dead-letter
// file. One policy is shared by all subtasks of a job.
type BadRecordPolicy struct {
	// Skip drops bad records instead of failing the job.
	Skip bool
	// DeadLetter, when set with Skip, receives one line per skipped record:
	// where<TAB>reason<TAB>raw record.
	DeadLetter io.Writer

	mu      sync.Mutex // guards DeadLetter; bad records are rare
	skipped atomic.Int64
}

// BadRecordError is a malformed record that failed the job: Where names the
// file and line or byte offset.
type BadRecordError struct {
	Where string
	Err   error
}

func (e *BadRecordError) Error() string {
	return fmt.Sprintf("bad record at %s: %v (use --on-bad-record=skip to skip such records)", e.Where, e.Err)
}

func (e *BadRecordError) Unwrap() error { return e.Err }

// Handle reports a bad record found at where ("file:line" or "file@offset").
// It returns the error that fails the job, or nil when the record is skipped.
func (p *BadRecordPolicy) Handle(where string, raw []byte, err error) error {
	if p == nil || !p.Skip {
		return &BadRecordError{Where: where, Err: err}
	}
	p.skipped.Add(1)
	if p.DeadLetter != nil {
		line := where + "\t" + strings.ReplaceAll(err.Error(), "\n", " ") + "\t" + strings.ReplaceAll(string(raw), "\n", "\\n") + "\n"
		p.mu.Lock()
		_, werr := io.WriteString(p.DeadLetter, line)
		p.mu.Unlock()
		if werr != nil {
			return fmt.Errorf("write dead-letter record for %s: %w", where, werr)
		}
	}
	return nil
}

// Skipped is the number of records skipped so far.
func (p *BadRecordPolicy) Skipped() int64 {
	if p == nil {
		return 0
	}
	return p.skipped.Load()
}
