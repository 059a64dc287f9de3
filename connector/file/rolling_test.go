package file

import (
	"errors"
	"testing"
	"time"

	"github.com/loom-yarn/loom/conf"
)

func TestRollingPolicyDue(t *testing.T) {
	p := rollingPolicy{fileSize: 100, rolloverInterval: time.Minute}
	for _, tt := range []struct {
		name string
		size int64
		age  time.Duration
		want bool
	}{
		{"empty and young", 0, 0, false},
		{"empty and old", 0, time.Hour, false},
		{"empty, age negative (clock stepped back)", 0, -time.Hour, false},
		{"small and young", 99, 59 * time.Second, false},
		{"size reached", 100, 0, true},
		{"size passed", 250, time.Second, true},
		{"age reached", 1, time.Minute, true},
		{"age passed", 1, time.Hour, true},
		{"both", 100, time.Minute, true},
		{"age negative (clock stepped back)", 1, -time.Hour, false},
	} {
		if got := p.due(tt.size, tt.age); got != tt.want {
			t.Errorf("%s: due(%d, %v) = %v, want %v", tt.name, tt.size, tt.age, got, tt.want)
		}
	}
}

func TestRollingPolicyOf(t *testing.T) {
	const size, interval = "sink.rolling-policy.file-size", "sink.rolling-policy.rollover-interval"
	for _, tt := range []struct {
		name   string
		config map[string]string
		want   rollingPolicy
		err    string
	}{
		{"defaults (Flink's DefaultRollingPolicy)", nil, rollingPolicy{128 << 20, 60 * time.Second}, ""},
		{"other options are not the sink's business", map[string]string{"parallelism.default": "4", "no.such.key": "x"},
			rollingPolicy{128 << 20, 60 * time.Second}, ""},
		{"both set", map[string]string{size: "64mb", interval: "15 min"}, rollingPolicy{64 << 20, 15 * time.Minute}, ""},
		{"one byte", map[string]string{size: "1"}, rollingPolicy{1, 60 * time.Second}, ""},
		{"size not a size", map[string]string{size: "lots"}, rollingPolicy{},
			`sink.rolling-policy.file-size: "lots" is not valid in the job configuration: want a size like 512kb, 64mb or 1g`},
		{"size zero", map[string]string{size: "0"}, rollingPolicy{},
			`sink.rolling-policy.file-size: "0" is not valid in the job configuration: want a size of at least 1`},
		{"size negative", map[string]string{size: "-5mb"}, rollingPolicy{},
			`sink.rolling-policy.file-size: "-5mb" is not valid in the job configuration: want a size like 512kb, 64mb or 1g`},
		{"interval not a duration", map[string]string{interval: "soon"}, rollingPolicy{},
			`sink.rolling-policy.rollover-interval: "soon" is not valid in the job configuration: want a duration like 500ms, 10s, 5min or 1h`},
		{"interval zero", map[string]string{interval: "0s"}, rollingPolicy{},
			`sink.rolling-policy.rollover-interval: "0s" is not valid in the job configuration: want a duration greater than 0, like 10min`},
	} {
		got, err := rollingPolicyOf(tt.config)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s: %+v, %v; want %+v", tt.name, got, err, tt.want)
		case tt.err != "" && (err == nil || err.Error() != tt.err || !errors.Is(err, conf.ErrInvalidValue)):
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.err)
		}
	}
}

// TestRollingOptionsAreDeclared: the keys the sink reads are conf's, so
// that -D and loom.yaml check them before a job starts.
func TestRollingOptionsAreDeclared(t *testing.T) {
	want := map[string]string{"sink.rolling-policy.file-size": "128mb", "sink.rolling-policy.rollover-interval": "1min"}
	for _, o := range conf.Options() {
		if d, ok := want[o.Key]; ok {
			if o.Default != d {
				t.Errorf("%s defaults to %s, want %s", o.Key, o.Default, d)
			}
			delete(want, o.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("options not declared: %v", want)
	}
	if err := conf.New().ApplyD("sink.rolling-policy.file-size=big"); err == nil {
		t.Error("-D with a bad size accepted")
	}
}
