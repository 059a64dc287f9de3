package conf

import (
	"os"
	"testing"
	"time"
)

// FuzzLoadYAML feeds arbitrary bytes as a --conf file: it loads or is
// refused with an error, quickly, never a panic, a hang or a blow-up of
// aliases (issue 10, item 7).
func FuzzLoadYAML(f *testing.F) {
	if data, err := os.ReadFile("testdata/loom.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"", "# nothing\n", "parallelism.default: 4\nstate.backend: lsm\n",
		"execution:\n  checkpointing:\n    interval: 1min\n",
		"a: &x {b: *x}\n", "a: &a {x: {}, y: {}}\nb: &b {p: *a, q: *a}\nc: {p: *b, q: *b}\n",
		"- a\n- b\n", "state.backend: lsm\n---\nstate.backend: heap\n", "pipeline.batch-size: 0x10\n",
		"x: &d 1min\nexecution.checkpointing.interval: *d\n", "k: *nope\n", "? [a]\n: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxYAMLSize {
			return
		}
		start := time.Now()
		c := New()
		_ = c.loadYAML("fuzz.yaml", data)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("loading %d bytes took %v", len(data), d)
		}
		if len(c.values) > maxYAMLSettings {
			t.Fatalf("%d settings from %d bytes", len(c.values), len(data))
		}
	})
}

// FuzzParseValues: the parsers of option values accept or refuse any text,
// and what they accept formats back to the same value.
func FuzzParseValues(f *testing.F) {
	for _, s := range []string{"64mb", "1g", "0", "512 kb", "9223372036854775807", "1t", "10s", "5 min", "1m30s", "250", "-1s", "2 days", "µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseBytes(s); err == nil {
			if back, err := ParseBytes(FormatBytes(n)); err != nil || back != n {
				t.Fatalf("ParseBytes(%q) = %d, formats as %q which reads %d, %v", s, n, FormatBytes(n), back, err)
			}
		}
		if d, err := ParseDuration(s); err == nil {
			if d < 0 {
				t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
			}
			if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
				t.Fatalf("ParseDuration(%q) = %v, formats as %q which reads %v, %v", s, d, FormatDuration(d), back, err)
			}
		}
	})
}
