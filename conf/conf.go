// Package conf holds loom's typed options: each option is declared once with
// its key, default, parser and documentation, and a Config holds the values a
// user set explicitly, from a YAML file (LoadYAML) or from -D key=value flags
// (Config.ApplyD). Every bad input is rejected when it is set, with an error
// naming the key, the value, where it came from and what was expected, so a
// job never starts with a configuration it would misread.
//
// Keys are Flink-style dotted names ("state.backend", "parallelism.default");
// the options loom itself understands are declared in options.go.
package conf

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownKey and ErrInvalidValue classify an *Error; test with errors.Is.
var (
	ErrUnknownKey   = errors.New("unknown option")
	ErrInvalidValue = errors.New("invalid option value")
)

// Error is a rejected setting. Its message names the key, the value, the
// source ("loom.yaml line 3", "-D flag") and the expectation, for example
//
//	state.backend: "rocks" is not valid in loom.yaml line 3: want one of heap, lsm
//	unknown option "state.backnd" in -D flag; did you mean "state.backend"?
type Error struct {
	Key    string
	Value  string
	Source string
	// Want says what a valid value looks like (invalid values only).
	Want string
	// Suggestion is the closest known key (unknown keys only; may be empty).
	Suggestion string
	// Kind is ErrUnknownKey or ErrInvalidValue.
	Kind error
}

func (e *Error) Error() string {
	if e.Kind == ErrUnknownKey {
		msg := fmt.Sprintf("unknown option %q in %s", e.Key, e.Source)
		if e.Suggestion != "" {
			msg += fmt.Sprintf("; did you mean %q?", e.Suggestion)
		}
		return msg
	}
	return fmt.Sprintf("%s: %q is not valid in %s: %s", e.Key, e.Value, e.Source, e.Want)
}

// Is makes errors.Is(err, ErrUnknownKey) and errors.Is(err, ErrInvalidValue) work.
func (e *Error) Is(target error) bool { return target == e.Kind }

// OptionInfo describes a declared option for listings and generated docs.
type OptionInfo struct {
	Key     string
	Type    string   // int, string, bool, duration, bytes or enum
	Default string   // the default as a user would write it
	Values  []string // the allowed values of an enum, nil otherwise
	Doc     string
}

// entry is the type-erased view of an Option that a Config works with.
type entry struct {
	info OptionInfo
	// parse turns a user's text into the option's typed value, or returns
	// the expectation ("want an integer") when the text is not valid.
	parse func(raw string) (value any, want string)
}

// registry holds every declared option. Options are declared in package
// variables, so registration happens during init; the lock only guards
// against packages initialised concurrently by tests.
var registry = struct {
	sync.RWMutex
	byKey map[string]*entry
}{byKey: map[string]*entry{}}

func register(e *entry) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byKey[e.info.Key]; dup {
		// Two declarations of one key would make its meaning depend on
		// which package happens to read it: a programming error.
		panic(fmt.Sprintf("conf: option %q declared twice", e.info.Key))
	}
	registry.byKey[e.info.Key] = e
}

func lookup(key string) (*entry, bool) {
	registry.RLock()
	defer registry.RUnlock()
	e, ok := registry.byKey[key]
	return e, ok
}

// Options lists every declared option sorted by key.
func Options() []OptionInfo {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]OptionInfo, 0, len(registry.byKey))
	for _, e := range registry.byKey {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// setting is one explicitly set value.
type setting struct {
	raw    string
	value  any
	source string
}

// Config is a set of explicitly set option values; options not set read as
// their defaults. A nil *Config is valid and holds no settings. A Config is
// filled once (LoadYAML, Set, ApplyD) and then only read: reads may run
// concurrently, writes may not run alongside anything.
type Config struct {
	values map[string]setting
}

// New returns an empty Config: every option has its default.
func New() *Config { return &Config{values: map[string]setting{}} }

// Set parses value for key and records it, replacing an earlier setting (so
// -D flags applied after LoadYAML override the file). source names where the
// value came from for error messages, e.g. "loom.yaml line 3" or "-D flag".
func (c *Config) Set(key, value, source string) error {
	key = strings.TrimSpace(key)
	value = strings.TrimSpace(value)
	e, ok := lookup(key)
	if !ok {
		return &Error{Key: key, Value: value, Source: source, Suggestion: suggest(key), Kind: ErrUnknownKey}
	}
	v, want := e.parse(value)
	if want != "" {
		return &Error{Key: key, Value: value, Source: source, Want: want, Kind: ErrInvalidValue}
	}
	if c.values == nil {
		c.values = map[string]setting{}
	}
	c.values[key] = setting{raw: value, value: v, source: source}
	return nil
}

// DFlagSource is the source that ApplyD gives its settings in errors.
const DFlagSource = "-D flag"

// ApplyD applies one -D flag argument of the form key=value.
func (c *Config) ApplyD(kv string) error {
	key, value, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("-D %q: want key=value, e.g. -D parallelism.default=4", kv)
	}
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("-D %q: the key before '=' is empty; want key=value, e.g. -D parallelism.default=4", kv)
	}
	return c.Set(key, value, DFlagSource)
}

// FromMap rebuilds a Config from Map's output, for a process or operator that
// receives the job's settings as strings. source names the origin in errors.
func FromMap(m map[string]string, source string) (*Config, error) {
	c := New()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first bad key is always the same
	for _, k := range keys {
		if err := c.Set(k, m[k], source); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Map returns the explicitly set values as the user wrote them (trimmed),
// keyed by option key. FromMap turns it back into an equal Config.
func (c *Config) Map() map[string]string {
	if c == nil {
		return map[string]string{}
	}
	m := make(map[string]string, len(c.values))
	for k, s := range c.values {
		m[k] = s.raw
	}
	return m
}

// Source says where key's value came from ("loom.yaml line 3", "-D flag"),
// or "" when key was not set and reads as its default.
func (c *Config) Source(key string) string {
	if c == nil {
		return ""
	}
	return c.values[key].source
}

// Option is a declared option whose values have type T. Declare options as
// package variables with Int, String, Bool, Duration, Bytes or Enum.
type Option[T any] struct {
	key   string
	def   T
	check func(T) string
}

// declare registers an option with its parser. parse returns the typed value
// or the expectation when raw is not valid.
func declare[T any](key string, def T, typ, defText string, values []string, doc string, parse func(string) (T, string)) *Option[T] {
	o := &Option[T]{key: key, def: def}
	register(&entry{
		info: OptionInfo{Key: key, Type: typ, Default: defText, Values: values, Doc: doc},
		parse: func(raw string) (any, string) {
			v, want := parse(raw)
			if want != "" {
				return nil, want
			}
			if o.check != nil {
				if want := o.check(v); want != "" {
					return nil, want
				}
			}
			return v, ""
		},
	})
	return o
}

// Check adds a validation to o: check returns "" for a good value, or the
// expectation shown to the user ("want at least 1"). It returns o so that a
// declaration reads as one expression. Call it only in the declaration.
func (o *Option[T]) Check(check func(T) string) *Option[T] {
	o.check = check
	return o
}

// Key is the option's dotted key.
func (o *Option[T]) Key() string { return o.key }

// Default is the value the option has when nobody sets it.
func (o *Option[T]) Default() T { return o.def }

// Get returns the option's value in c, or its default when c does not set it.
func (o *Option[T]) Get(c *Config) T {
	if c == nil {
		return o.def
	}
	s, ok := c.values[o.key]
	if !ok {
		return o.def
	}
	return s.value.(T)
}

// IsSet reports whether c sets the option explicitly.
func (o *Option[T]) IsSet(c *Config) bool {
	if c == nil {
		return false
	}
	_, ok := c.values[o.key]
	return ok
}
