package jobs_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loom-yarn/loom/internal/outputs"
)

// buildLoom builds the loom binary once per test binary run.
func buildLoom(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loom")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/loom")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func sortedOutput(t *testing.T, dir string) string {
	t.Helper()
	lines, err := outputs.Lines(dir)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// completedCheckpoint returns a checkpoint directory with metadata under root, if any.
func completedCheckpoint(root string) string {
	m, _ := filepath.Glob(filepath.Join(root, "chk-*", "_metadata"))
	if len(m) == 0 {
		return ""
	}
	return filepath.Dir(m[0])
}

// TestKillAndRestore kills a stateful job with SIGKILL after a completed
// checkpoint, restarts it from the checkpoint and expects exactly the output
// of an uninterrupted run, with both state backends, and restored into the
// other backend at another parallelism.
func TestKillAndRestore(t *testing.T) {
	bin := buildLoom(t)
	common := []string{"run", "totals", "--events", "150000", "--accounts", "500", "--seed", "42", "-p", "2"}
	for _, tc := range []struct{ backend, restoreBackend, restoreP string }{
		{"heap", "heap", "2"}, {"lsm", "lsm", "2"}, {"lsm", "heap", "3"}, {"heap", "lsm", "1"},
	} {
		backend := tc.backend
		t.Run(tc.backend+"-to-"+tc.restoreBackend+"-p"+tc.restoreP, func(t *testing.T) {
			dir := t.TempDir()
			want := filepath.Join(dir, "uninterrupted")
			if out, err := exec.Command(bin, append(common, "--output", want, "--state-backend", backend)...).CombinedOutput(); err != nil {
				t.Fatalf("uninterrupted run: %v\n%s", err, out)
			}

			got := filepath.Join(dir, "restored")
			ck := filepath.Join(dir, "checkpoints")
			args := append(common, "--output", got, "--state-backend", backend, "--rate", "40000",
				"--checkpoint-dir", ck, "--checkpoint-interval", "200ms", "-D", "state.backend.lsm.dir="+filepath.Join(dir, "lsm"))
			var log bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for completedCheckpoint(filepath.Join(ck, "totals")) == "" {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no checkpoint completed within 30s:\n%s", log.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("the job ended before it was killed (%v); raise --events:\n%s", err, log.String())
			}
			if parts, _ := filepath.Glob(filepath.Join(got, "part-*")); len(parts) > 0 {
				t.Fatalf("killed run published %v before end of input", parts)
			}

			restart := append(args, "--from-checkpoint", filepath.Join(ck, "totals"), "--state-backend", tc.restoreBackend, "-p", tc.restoreP)
			out, err := exec.Command(bin, restart...).CombinedOutput()
			if err != nil {
				t.Fatalf("restored run: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "restored job totals from checkpoint") {
				t.Fatalf("restored run did not say it restored:\n%s", out)
			}
			w, g := sortedOutput(t, want), sortedOutput(t, got)
			if w != g || len(w) == 0 {
				t.Fatalf("restored output (%d bytes) differs from the uninterrupted one (%d bytes)", len(g), len(w))
			}
		})
	}
}
