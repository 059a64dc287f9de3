package conf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Int declares an integer option.
func Int(key string, def int, doc string) *Option[int] {
	return declare(key, def, "int", strconv.Itoa(def), nil, doc, func(raw string) (int, string) {
		v, err := strconv.Atoi(raw)
		if err != nil {
			return 0, "want an integer"
		}
		return v, ""
	})
}

// Float declares a decimal number option.
func Float(key string, def float64, doc string) *Option[float64] {
	return declare(key, def, "float", strconv.FormatFloat(def, 'g', -1, 64), nil, doc, func(raw string) (float64, string) {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, "want a number like 1.5"
		}
		return v, ""
	})
}

// String declares a free-form text option; every value is valid.
func String(key, def, doc string) *Option[string] {
	return declare(key, def, "string", def, nil, doc, func(raw string) (string, string) {
		return raw, ""
	})
}

// Bool declares a true/false option (either case).
func Bool(key string, def bool, doc string) *Option[bool] {
	return declare(key, def, "bool", strconv.FormatBool(def), nil, doc, func(raw string) (bool, string) {
		switch strings.ToLower(raw) {
		case "true":
			return true, ""
		case "false":
			return false, ""
		}
		return false, "want true or false"
	})
}

// Duration declares a time span option; see ParseDuration for the syntax.
func Duration(key string, def time.Duration, doc string) *Option[time.Duration] {
	return declare(key, def, "duration", FormatDuration(def), nil, doc, func(raw string) (time.Duration, string) {
		d, err := ParseDuration(raw)
		if err != nil {
			return 0, "want a duration like 500ms, 10s, 5min or 1h"
		}
		return d, ""
	})
}

// Bytes declares a size option in bytes; see ParseBytes for the syntax.
func Bytes(key string, def int64, doc string) *Option[int64] {
	return declare(key, def, "bytes", FormatBytes(def), nil, doc, func(raw string) (int64, string) {
		n, err := ParseBytes(raw)
		if err != nil {
			return 0, "want a size like 512kb, 64mb or 1g"
		}
		return n, ""
	})
}

// Enum declares an option whose value is one of values. Matching ignores
// case; Get returns the spelling in values.
func Enum(key, def string, values []string, doc string) *Option[string] {
	if !contains(values, def) {
		panic(fmt.Sprintf("conf: option %q: default %q is not one of %v", key, def, values))
	}
	want := "want one of " + strings.Join(values, ", ")
	return declare(key, def, "enum", def, values, doc, func(raw string) (string, string) {
		for _, v := range values {
			if strings.EqualFold(raw, v) {
				return v, ""
			}
		}
		return "", want
	})
}

func contains(values []string, s string) bool {
	for _, v := range values {
		if v == s {
			return true
		}
	}
	return false
}

// durationUnits are the unit words ParseDuration accepts, Flink's and Go's.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond,
	"us": time.Microsecond, "µs": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

var errSyntax = errors.New("invalid syntax")

// ParseDuration reads a duration as Flink and Go users write it: Go syntax
// ("1m30s", "100ms"), or a number with a unit word and optional space
// ("10 min", "5s", "2 days"). A bare number is milliseconds, as in Flink.
// Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errSyntax
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Millisecond) {
			return 0, errSyntax
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	num, unit := splitNumber(s)
	if mult, ok := durationUnits[strings.ToLower(strings.TrimSpace(unit))]; ok && num != "" {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(mult) {
			return 0, errSyntax
		}
		return time.Duration(n) * mult, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errSyntax
	}
	return d, nil
}

// FormatDuration writes d in the largest unit that divides it exactly
// ("100ms", "10min", "0"), a form ParseDuration reads back.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"min", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// byteUnits are the unit words ParseBytes accepts; like Flink, k, m, g and t
// are binary (1k = 1024 bytes).
var byteUnits = map[string]int64{
	"": 1, "b": 1, "bytes": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseBytes reads a size: a whole number with an optional unit (b, k/kb/kib,
// m/mb/mib, g/gb/gib, t/tb/tib, any case, optional space), binary multiples.
func ParseBytes(s string) (int64, error) {
	num, unit := splitNumber(strings.TrimSpace(s))
	mult, ok := byteUnits[strings.ToLower(strings.TrimSpace(unit))]
	if !ok || num == "" {
		return 0, errSyntax
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errSyntax
	}
	return n * mult, nil
}

// FormatBytes writes n in the largest binary unit that divides it exactly
// ("64mb", "1gb", "1000"), a form ParseBytes reads back.
func FormatBytes(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		n    int64
	}{{"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}} {
		if n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// splitNumber splits "64 mb" into "64" and " mb": the leading ASCII digits
// and the rest.
func splitNumber(s string) (num, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}
