package conf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testFlag exercises the bool kind, which no loom option uses yet.
var testFlag = Bool("test.flag", false, "a bool option for tests")

func TestSetKinds(t *testing.T) {
	tests := []struct {
		key, value string
		want       any    // typed value read back with the option
		wantErr    string // substring of the error; "" for success
	}{
		{"parallelism.default", "4", 4, ""},
		{"parallelism.default", " 16 ", 16, ""},
		{"parallelism.default", "0", nil, `parallelism.default: "0" is not valid in test: want an integer from 1 to 32768`},
		{"parallelism.default", "four", nil, `parallelism.default: "four" is not valid in test: want an integer`},
		{"parallelism.default", "1.5", nil, "want an integer"},
		{"parallelism.default", "", nil, `parallelism.default: "" is not valid in test: want an integer`},
		{"pipeline.max-parallelism", "0", 0, ""},
		{"pipeline.max-parallelism", "32768", 32768, ""},
		{"pipeline.max-parallelism", "32769", nil, "want an integer from 0 to 32768"},
		{"state.backend", "lsm", "lsm", ""},
		{"state.backend", "LSM", "lsm", ""},
		{"state.backend", "rocks", nil, `state.backend: "rocks" is not valid in test: want one of heap, lsm`},
		{"execution.runtime-mode", "Batch", "batch", ""},
		{"execution.runtime-mode", "bounded", nil, "want one of streaming, batch, automatic"},
		{"execution.batch-shuffle-mode", "blocking", "blocking", ""},
		{"execution.batch-shuffle-mode", "ALL_EXCHANGES_BLOCKING", nil, "want one of pipelined, blocking"},
		{"execution.buffer-timeout", "5ms", 5 * time.Millisecond, ""},
		{"execution.buffer-timeout", "10 s", 10 * time.Second, ""},
		{"execution.buffer-timeout", "250", 250 * time.Millisecond, ""},
		{"execution.buffer-timeout", "1m30s", 90 * time.Second, ""},
		{"execution.buffer-timeout", "soon", nil, `execution.buffer-timeout: "soon" is not valid in test: want a duration like 500ms, 10s, 5min or 1h`},
		{"execution.buffer-timeout", "-1s", nil, "want a duration"},
		{"execution.checkpointing.timeout", "0", nil, "want a duration greater than 0"},
		{"execution.checkpointing.interval", "5 min", 5 * time.Minute, ""},
		{"state.checkpoints.dir", "hdfs:///loom/ckpt", "hdfs:///loom/ckpt", ""},
		{"state.checkpoints.dir", "", "", ""},
		{"test.flag", "TRUE", true, ""},
		{"test.flag", "false", false, ""},
		{"test.flag", "yes", nil, `test.flag: "yes" is not valid in test: want true or false`},
		{"state.backnd", "lsm", nil, `unknown option "state.backnd" in test; did you mean "state.backend"?`},
		{"no.such.thing.at.all", "1", nil, `unknown option "no.such.thing.at.all" in test`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c := New()
			err := c.Set(tt.key, tt.value, "test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Set(%q, %q) error = %v, want containing %q", tt.key, tt.value, err, tt.wantErr)
				}
				if len(c.Map()) != 0 {
					t.Fatalf("a rejected value was kept: %v", c.Map())
				}
				return
			}
			if err != nil {
				t.Fatalf("Set(%q, %q): %v", tt.key, tt.value, err)
			}
			if got := get(t, c, tt.key); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Get after Set(%q, %q) = %#v, want %#v", tt.key, tt.value, got, tt.want)
			}
		})
	}
}

// get reads key with its typed option.
func get(t *testing.T, c *Config, key string) any {
	t.Helper()
	for _, o := range []interface {
		Key() string
	}{Parallelism, MaxParallelism, StateBackend, RuntimeMode, BatchShuffleMode, BufferTimeout, CheckpointInterval, CheckpointDir, testFlag} {
		if o.Key() != key {
			continue
		}
		switch o := o.(type) {
		case *Option[int]:
			return o.Get(c)
		case *Option[string]:
			return o.Get(c)
		case *Option[bool]:
			return o.Get(c)
		case *Option[time.Duration]:
			return o.Get(c)
		}
	}
	t.Fatalf("test has no option for %q", key)
	return nil
}

func TestErrorKinds(t *testing.T) {
	c := New()
	err := c.Set("state.backnd", "heap", "-D flag")
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrInvalidValue) {
		t.Fatalf("unknown key error = %#v, want *Error of kind ErrUnknownKey", err)
	}
	if ce.Suggestion != "state.backend" || ce.Source != "-D flag" {
		t.Fatalf("unknown key error fields = %+v", ce)
	}
	err = c.Set("state.backend", "rocks", "-D flag")
	if !errors.Is(err, ErrInvalidValue) || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("invalid value error = %#v, want kind ErrInvalidValue", err)
	}
}

func TestDefaultsAndNil(t *testing.T) {
	var nilConfig *Config
	if got := Parallelism.Get(nilConfig); got != 1 {
		t.Fatalf("Parallelism on nil config = %d, want 1", got)
	}
	c := New()
	checks := []struct {
		got, want any
	}{
		{Parallelism.Get(c), 1},
		{MaxParallelism.Get(c), 0},
		{BatchSize.Get(c), 1024},
		{ChannelCapacity.Get(c), 8},
		{BufferTimeout.Get(c), 100 * time.Millisecond},
		{RuntimeMode.Get(c), ModeAutomatic},
		{StateBackend.Get(c), BackendHeap},
		{LSMDir.Get(c), ""},
		{CheckpointInterval.Get(c), time.Duration(0)},
		{CheckpointTimeout.Get(c), 10 * time.Minute},
		{CheckpointMinPause.Get(c), time.Duration(0)},
		{CheckpointDir.Get(c), ""},
		{CheckpointsRetained.Get(c), 1},
		{RestartStrategy.Get(c), RestartNone},
		{RestartAttempts.Get(c), 3},
		{RestartDelay.Get(c), time.Second},
		{OnBadRecord.Get(c), BadRecordFail},
		{DeadLetterPath.Get(c), ""},
		{MetricsAddr.Get(c), ""},
		{YarnAppName.Get(c), ""},
		{YarnQueue.Get(c), "default"},
	}
	for i, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("default %d = %#v, want %#v", i, ch.got, ch.want)
		}
	}
	if Parallelism.IsSet(c) {
		t.Fatal("IsSet on an empty config")
	}
}

func TestApplyD(t *testing.T) {
	tests := []struct {
		arg     string
		key     string
		value   string
		wantErr string
	}{
		{arg: "parallelism.default=4", key: "parallelism.default", value: "4"},
		{arg: " state.backend = lsm ", key: "state.backend", value: "lsm"},
		{arg: "state.checkpoints.dir=hdfs:///a=b", key: "state.checkpoints.dir", value: "hdfs:///a=b"},
		{arg: "state.checkpoints.dir=", key: "state.checkpoints.dir", value: ""},
		{arg: "foo", wantErr: `-D "foo": want key=value, e.g. -D parallelism.default=4`},
		{arg: "=4", wantErr: `-D "=4": the key before '=' is empty`},
		{arg: "parallelism.default=x", wantErr: `parallelism.default: "x" is not valid in -D flag: want an integer`},
		{arg: "parallelism=4", wantErr: `unknown option "parallelism" in -D flag; did you mean "parallelism.default"?`},
		{arg: "checkpointing.interval=1s", wantErr: `did you mean "execution.checkpointing.interval"?`},
		{arg: "State.Backend=lsm", wantErr: `did you mean "state.backend"?`},
		{arg: "state.backend.type=lsm", wantErr: `did you mean "state.backend"?`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			c := New()
			err := c.ApplyD(tt.arg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ApplyD(%q) error = %v, want containing %q", tt.arg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyD(%q): %v", tt.arg, err)
			}
			if got := c.Map(); !reflect.DeepEqual(got, map[string]string{tt.key: tt.value}) {
				t.Fatalf("Map() = %v, want %s=%s", got, tt.key, tt.value)
			}
			if got := c.Source(tt.key); got != DFlagSource {
				t.Fatalf("Source = %q, want %q", got, DFlagSource)
			}
		})
	}
}

func TestMapRoundTrip(t *testing.T) {
	c := New()
	for _, kv := range []string{"parallelism.default=3", "execution.buffer-timeout=10 s", "pipeline.on-bad-record=SKIP"} {
		if err := c.ApplyD(kv); err != nil {
			t.Fatal(err)
		}
	}
	m := c.Map()
	back, err := FromMap(m, "job config")
	if err != nil {
		t.Fatal(err)
	}
	if Parallelism.Get(back) != 3 || BufferTimeout.Get(back) != 10*time.Second || OnBadRecord.Get(back) != BadRecordSkip {
		t.Fatalf("round trip lost values: %v", back.Map())
	}
	if !reflect.DeepEqual(back.Map(), m) {
		t.Fatalf("Map after FromMap = %v, want %v", back.Map(), m)
	}
	_, err = FromMap(map[string]string{"parallelism.default": "x"}, "job config")
	if err == nil || !strings.Contains(err.Error(), `"x" is not valid in job config`) {
		t.Fatalf("FromMap with a bad value: %v", err)
	}
}

func TestLaterSettingWins(t *testing.T) {
	c := writeYAML(t, "parallelism.default: 2\n")
	if err := c.ApplyD("parallelism.default=7"); err != nil {
		t.Fatal(err)
	}
	if got := Parallelism.Get(c); got != 7 {
		t.Fatalf("parallelism after -D = %d, want 7", got)
	}
}

func writeYAML(t *testing.T, text string) *Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loom.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadYAML(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadYAML(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    map[string]string // Map() after loading
		sources map[string]string // key -> expected Source, "loom.yaml line N"
		wantErr string            // with "loom.yaml" for the file name
	}{
		{name: "empty", text: "", want: map[string]string{}},
		{name: "comments only", text: "# nothing set\n", want: map[string]string{}},
		{
			name: "flat",
			text: "parallelism.default: 4\nstate.backend: lsm\nexecution.checkpointing.interval: 30s\n",
			want: map[string]string{"parallelism.default": "4", "state.backend": "lsm", "execution.checkpointing.interval": "30s"},
			sources: map[string]string{
				"parallelism.default":              "loom.yaml line 1",
				"execution.checkpointing.interval": "loom.yaml line 3",
			},
		},
		{
			name: "nested",
			text: "execution:\n  checkpointing:\n    interval: 1min\n    timeout: 5min\nrestart-strategy:\n  type: fixed-delay\n",
			want: map[string]string{"execution.checkpointing.interval": "1min", "execution.checkpointing.timeout": "5min", "restart-strategy.type": "fixed-delay"},
			sources: map[string]string{
				"execution.checkpointing.timeout": "loom.yaml line 4",
				"restart-strategy.type":           "loom.yaml line 6",
			},
		},
		{
			name: "mixed flat and nested",
			text: "state.backend: lsm\nstate:\n  backend.lsm.dir: /data/loom\n  checkpoints:\n    dir: hdfs:///ckpt\n",
			want: map[string]string{"state.backend": "lsm", "state.backend.lsm.dir": "/data/loom", "state.checkpoints.dir": "hdfs:///ckpt"},
		},
		{
			name:    "yaml scalars read as text",
			text:    "pipeline.batch-size: 0x10\nstate.checkpoints.dir:\nyarn.application.queue: 'prod'\n",
			wantErr: `pipeline.batch-size: "0x10" is not valid in loom.yaml line 1: want an integer`,
		},
		{
			name: "null value is empty",
			text: "state.checkpoints.dir:\nyarn.application.queue: 'prod'\n",
			want: map[string]string{"state.checkpoints.dir": "", "yarn.application.queue": "prod"},
		},
		{
			name:    "bad enum with line",
			text:    "parallelism.default: 2\n\nstate.backend: rocks\n",
			wantErr: `state.backend: "rocks" is not valid in loom.yaml line 3: want one of heap, lsm`,
		},
		{
			name:    "bad nested value with line",
			text:    "execution:\n  checkpointing:\n    interval: often\n",
			wantErr: `execution.checkpointing.interval: "often" is not valid in loom.yaml line 3: want a duration`,
		},
		{
			name:    "unknown key with suggestion",
			text:    "parallelism.default: 2\nstate.backnd: lsm\n",
			wantErr: `unknown option "state.backnd" in loom.yaml line 2; did you mean "state.backend"?`,
		},
		{
			name:    "unknown nested key",
			text:    "state:\n  checkpoint:\n    dir: /x\n",
			wantErr: `unknown option "state.checkpoint.dir" in loom.yaml line 3; did you mean "state.checkpoints.dir"?`,
		},
		{
			name:    "set twice",
			text:    "state.backend: lsm\nstate:\n  backend: heap\n",
			wantErr: "loom.yaml line 3: state.backend is set twice (first on line 1); keep one",
		},
		{
			name:    "list value",
			text:    "parallelism.default:\n  - 1\n  - 2\n",
			wantErr: "loom.yaml line 2: parallelism.default: a list is not a valid option value",
		},
		{
			name:    "not a mapping",
			text:    "- a\n- b\n",
			wantErr: "loom.yaml line 1: want a mapping of option keys to values",
		},
		{
			name:    "syntax error",
			text:    "state.backend: lsm\n  bad: [\n",
			wantErr: "parse loom.yaml: yaml: line",
		},
		{
			name:    "two documents",
			text:    "state.backend: lsm\n---\nstate.backend: heap\n",
			wantErr: "loom.yaml line 2: a second YAML document",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "loom.yaml")
			if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := LoadYAML(path)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "loom.yaml", path)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("LoadYAML error = %v, want containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadYAML: %v", err)
			}
			if got := c.Map(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Map() = %v, want %v", got, tt.want)
			}
			for key, src := range tt.sources {
				want := strings.ReplaceAll(src, "loom.yaml", path)
				if got := c.Source(key); got != want {
					t.Errorf("Source(%q) = %q, want %q", key, got, want)
				}
			}
		})
	}
}

func TestLoadYAMLMissingFile(t *testing.T) {
	_, err := LoadYAML(filepath.Join(t.TempDir(), "absent.yaml"))
	if err == nil || !strings.Contains(err.Error(), "read configuration") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadYAML of a missing file: %v", err)
	}
}

// TestExampleFile keeps the documented example configuration loadable.
func TestExampleFile(t *testing.T) {
	c, err := LoadYAML("testdata/loom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if StateBackend.Get(c) != BackendLSM || CheckpointInterval.Get(c) != time.Minute || Parallelism.Get(c) != 4 {
		t.Fatalf("example file read as %v", c.Map())
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"100", 100 * time.Millisecond, true},
		{"100ms", 100 * time.Millisecond, true},
		{"100 ms", 100 * time.Millisecond, true},
		{"10s", 10 * time.Second, true},
		{"10 sec", 10 * time.Second, true},
		{"5min", 5 * time.Minute, true},
		{"5m", 5 * time.Minute, true},
		{"5 Minutes", 5 * time.Minute, true},
		{"2h", 2 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"3 days", 72 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"", 0, false},
		{"ms", 0, false},
		{"-5s", 0, false},
		{"-5", 0, false},
		{"5 fortnights", 0, false},
		{"99999999999999999999d", 0, false},
		{"9999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1000", 1000, true},
		{"512b", 512, true},
		{"64mb", 64 << 20, true},
		{"64 MB", 64 << 20, true},
		{"64m", 64 << 20, true},
		{"1g", 1 << 30, true},
		{"2GiB", 2 << 30, true},
		{"16k", 16 << 10, true},
		{"1tb", 1 << 40, true},
		{"", 0, false},
		{"mb", 0, false},
		{"1.5g", 0, false},
		{"-1", 0, false},
		{"10 parsecs", 0, false},
		{"9999999t", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 1500 * time.Microsecond, 100 * time.Millisecond, 90 * time.Second, 10 * time.Minute, 48 * time.Hour} {
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Errorf("FormatDuration(%v) = %q reads back as %v, %v", d, FormatDuration(d), back, err)
		}
	}
	for _, n := range []int64{0, 1, 1000, 1 << 10, 64 << 20, 3 << 30, 1 << 40, 1<<20 + 1} {
		back, err := ParseBytes(FormatBytes(n))
		if err != nil || back != n {
			t.Errorf("FormatBytes(%d) = %q reads back as %d, %v", n, FormatBytes(n), back, err)
		}
	}
	if got := FormatBytes(64 << 20); got != "64mb" {
		t.Errorf("FormatBytes(64<<20) = %q, want 64mb", got)
	}
	if got := FormatDuration(10 * time.Minute); got != "10min" {
		t.Errorf("FormatDuration(10m) = %q, want 10min", got)
	}
}

func TestOptions(t *testing.T) {
	infos := Options()
	byKey := map[string]OptionInfo{}
	for i, o := range infos {
		if i > 0 && infos[i-1].Key >= o.Key {
			t.Fatalf("Options not sorted at %q", o.Key)
		}
		if o.Doc == "" {
			t.Errorf("option %q has no doc", o.Key)
		}
		byKey[o.Key] = o
	}
	want := map[string]OptionInfo{
		"state.backend":                    {Key: "state.backend", Type: "enum", Default: "heap", Values: []string{"heap", "lsm"}},
		"execution.checkpointing.timeout":  {Key: "execution.checkpointing.timeout", Type: "duration", Default: "10min"},
		"execution.buffer-timeout":         {Key: "execution.buffer-timeout", Type: "duration", Default: "100ms"},
		"parallelism.default":              {Key: "parallelism.default", Type: "int", Default: "1"},
		"yarn.application.queue":           {Key: "yarn.application.queue", Type: "string", Default: "default"},
		"test.flag":                        {Key: "test.flag", Type: "bool", Default: "false"},
		"execution.checkpointing.interval": {Key: "execution.checkpointing.interval", Type: "duration", Default: "0"},
	}
	for key, w := range want {
		got, ok := byKey[key]
		if !ok {
			t.Errorf("option %q not listed", key)
			continue
		}
		got.Doc = ""
		if !reflect.DeepEqual(got, w) {
			t.Errorf("Options()[%q] = %+v, want %+v", key, got, w)
		}
	}
}

func TestBytesOption(t *testing.T) {
	size := Bytes("test.size", 64<<20, "a size option for tests")
	c := New()
	if size.Get(c) != 64<<20 {
		t.Fatalf("default = %d", size.Get(c))
	}
	if err := c.Set("test.size", "1g", "test"); err != nil {
		t.Fatal(err)
	}
	if size.Get(c) != 1<<30 {
		t.Fatalf("1g read as %d", size.Get(c))
	}
	err := c.Set("test.size", "lots", "test")
	if err == nil || err.Error() != `test.size: "lots" is not valid in test: want a size like 512kb, 64mb or 1g` {
		t.Fatalf("bad size error: %v", err)
	}
}

func TestDeclarePanics(t *testing.T) {
	mustPanic := func(name string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		fn()
	}
	mustPanic("duplicate key", func() { Int("parallelism.default", 2, "again") })
	mustPanic("enum default not allowed", func() { Enum("test.enum", "c", []string{"a", "b"}, "bad default") })
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"state.backnd", "state.backend", 1},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
