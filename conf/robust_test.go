package conf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSizeOptionsHaveMaximums: every option that sizes memory allocated up
// front refuses a huge value when it is set, naming the bound and the
// reason, instead of passing validation and failing when the job allocates
// it (issue 10, item 7: pipeline.batch-size=1e9 died allocating 48 GB).
func TestSizeOptionsHaveMaximums(t *testing.T) {
	tests := []struct {
		key, ok, bad, want string
	}{
		{"pipeline.batch-size", "65536", "1000000000", "want an integer from 1 to 65536 (batches are allocated whole"},
		{"pipeline.channel-capacity", "4096", "1000000000", "want an integer from 1 to 4096"},
		{"parallelism.default", "32768", "1000000000", "want an integer from 1 to 32768"},
		{"taskmanager.memory.segment-size", "64mb", "1g", "want a size from 1kb to 64mb"},
		{"taskmanager.network.memory.buffers-per-channel", "1024", "1000000", "want an integer from 1 to 1024"},
		{"taskmanager.network.memory.floating-buffers-per-gate", "1024", "1000000", "want an integer from 0 to 1024"},
		{"taskmanager.network.memory.max-buffers-per-channel", "1024", "1000000", "want an integer from 1 to 1024"},
		{"source.file.max-line-length", "1g", "2g", "want a size from 1kb to 1gb (a line is held in memory whole)"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := New()
			if err := c.Set(tt.key, tt.ok, DFlagSource); err != nil {
				t.Fatalf("the largest allowed value %s: %v", tt.ok, err)
			}
			err := c.Set(tt.key, tt.bad, DFlagSource)
			if err == nil || !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Set(%s=%s) = %v, want an error naming the key and containing %q", tt.key, tt.bad, err, tt.want)
			}
		})
	}
}

// TestFloatOptionsRefuseNonFinite: a float option never takes NaN or an
// infinity (issue 10, item 8).
func TestFloatOptionsRefuseNonFinite(t *testing.T) {
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-inf", "infinity", "1e400"} {
		c := New()
		err := c.Set(BackoffMultiplier.Key(), v, DFlagSource)
		if err == nil || !strings.Contains(err.Error(), "want a number like 1.5") {
			t.Errorf("%s=%s: %v, want refused", BackoffMultiplier.Key(), v, err)
		}
	}
}

// TestLoadYAMLRefusesAliasBombs: a self-referencing anchor, or aliases that
// expand to a huge number of settings, are refused at once with the line,
// instead of growing without bound (issue 10, item 7: 19 GB in 20 s).
func TestLoadYAMLRefusesAliasBombs(t *testing.T) {
	laughs := "a: &a {x: {}, y: {}, z: {}, w: {}, v: {}, u: {}, t: {}, s: {}, r: {}, q: {}}\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += n + ": &" + n + " {"
		for i, k := range []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"} {
			if i > 0 {
				laughs += ", "
			}
			laughs += k + ": *" + prev
		}
		laughs += "}\n"
		prev = n
	}
	tests := []struct{ name, text, want string }{
		{"self reference", "a: &x {b: *x}\n", "line 1: a.b: alias *x refers to a mapping that contains it, which would expand forever"},
		{"indirect cycle", "a: &x\n  b:\n    c: *x\n", "line 3: a.b.c: alias *x refers to a mapping that contains it"},
		{"billion laughs", laughs, "more than 10000 settings (counting every expansion of an alias)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "loom.yaml")
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := LoadYAML(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadYAML = %v, want an error naming the file and containing %q", err, tt.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("refusing took %v", d)
			}
		})
	}
}

// TestLoadYAMLAliasToSettingsWorks: an alias that is not a cycle still
// stands for its settings.
func TestLoadYAMLAliasToSettingsWorks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loom.yaml")
	text := "defaults: &d\n  interval: 1min\nexecution:\n  checkpointing: *d\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadYAML(path)
	// "defaults.interval" is no option: the alias was followed and the
	// error names the key it made.
	if err == nil || !strings.Contains(err.Error(), `unknown option "defaults.interval"`) {
		t.Fatalf("LoadYAML = %v", err)
	}
	text = "x: &d 1min\nexecution.checkpointing.interval: *d\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadYAML(path); err == nil || !strings.Contains(err.Error(), `unknown option "x"`) {
		t.Fatalf("LoadYAML = %v", err)
	}
}

// TestLoadYAMLRefusesHugeFiles: a --conf naming a huge file or a device
// (/dev/zero) is refused after reading at most MaxYAMLSize bytes.
func TestLoadYAMLRefusesHugeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(strings.Repeat("# comment\n", MaxYAMLSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, "/dev/zero"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		_, err := LoadYAML(p)
		if err == nil || !strings.Contains(err.Error(), p+" is larger than 1mb") {
			t.Errorf("LoadYAML(%s) = %v, want refused as too large", p, err)
		}
	}
}

func TestClosest(t *testing.T) {
	jobs := []string{"grep", "sum", "totals", "windowed", "wordcount"}
	tests := []struct {
		word string
		want string
	}{
		{"wordcont", "wordcount"},
		{"WordCount", "wordcount"},
		{"totls", "totals"},
		{"sun", "sum"},
		{"nosuchjob", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.word, jobs); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}
