package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	yaml "go.yaml.in/yaml/v3"
)

// Bounds of a configuration file: loom's options fit in a few kilobytes, so
// anything far larger is a mistake (a wrong file, /dev/zero, an alias
// bomb) to refuse quickly, not to read or expand until memory runs out.
const (
	// MaxYAMLSize bounds the size of a --conf file.
	MaxYAMLSize = 1 << 20
	// maxYAMLSettings bounds the option settings a file makes, counting
	// every expansion of an alias.
	maxYAMLSettings = 10_000
	// maxYAMLDepth bounds the nesting of mappings, aliases included.
	maxYAMLDepth = 64
)

// LoadYAML reads options from a YAML file. Keys may be flat
// ("state.backend: lsm"), nested ("state: {backend: lsm}") or both; nested
// keys are joined with dots. Every error names the file and line. A file
// larger than MaxYAMLSize, or whose aliases expand to more than 10,000
// settings or refer to a mapping they are in, is refused.
func LoadYAML(path string) (*Config, error) {
	data, err := readBounded(path, MaxYAMLSize)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	c := New()
	if err := c.loadYAML(path, data); err != nil {
		return nil, err
	}
	return c, nil
}

// loadYAML applies the settings in data, which was read from name.
func (c *Config) loadYAML(name string, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty file sets nothing
			return nil
		}
		return fmt.Errorf("parse %s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s line %d: a second YAML document; want one mapping of option keys to values", name, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" { // only comments
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s line %d: want a mapping of option keys to values, like \"parallelism.default: 4\"", name, root.Line)
	}
	w := &yamlWalk{name: name, seen: map[string]int{}, open: map[*yaml.Node]bool{root: true}}
	return c.walkYAML(w, "", root, 0)
}

// readBounded reads the file at path, refusing one larger than limit
// before reading it all (a device or pipe has no size to check first).
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s: a loom configuration is a short mapping of option keys to values; is it the right file?", path, FormatBytes(limit))
	}
	return data, nil
}

// yamlWalk is the state of one walk over a configuration file.
type yamlWalk struct {
	name     string
	seen     map[string]int // key -> line, to reject a key set twice
	settings int            // pairs visited, every alias expansion counted
	// open holds the mappings being walked, from the root to the current
	// one: an alias to one of them would expand forever.
	open map[*yaml.Node]bool
}

// walkYAML applies the pairs of mapping m, whose keys are prefixed by
// prefix, at nesting depth.
func (c *Config) walkYAML(w *yamlWalk, prefix string, m *yaml.Node, depth int) error {
	name, seen := w.name, w.seen
	if depth > maxYAMLDepth {
		return fmt.Errorf("%s line %d: mappings nested more than %d deep; loom's option keys have a few parts", name, m.Line, maxYAMLDepth)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if w.settings++; w.settings > maxYAMLSettings {
			return fmt.Errorf("%s line %d: more than %d settings (counting every expansion of an alias); loom has far fewer options: do aliases expand too much?", name, k.Line, maxYAMLSettings)
		}
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return fmt.Errorf("%s line %d: want an option key (text) here", name, k.Line)
		}
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		alias := v
		for hops := 0; v.Kind == yaml.AliasNode; hops++ {
			if v.Alias == nil || hops > maxYAMLDepth {
				return fmt.Errorf("%s line %d: %s: alias *%s does not resolve", name, v.Line, key, alias.Value)
			}
			v = v.Alias
		}
		switch v.Kind {
		case yaml.MappingNode:
			if w.open[v] {
				return fmt.Errorf("%s line %d: %s: alias *%s refers to a mapping that contains it, which would expand forever; replace the alias by the settings it stands for", name, alias.Line, key, alias.Value)
			}
			w.open[v] = true
			err := c.walkYAML(w, key, v, depth+1)
			delete(w.open, v)
			if err != nil {
				return err
			}
		case yaml.ScalarNode:
			if first, dup := seen[key]; dup {
				return fmt.Errorf("%s line %d: %s is set twice (first on line %d); keep one", name, k.Line, key, first)
			}
			seen[key] = k.Line
			value := v.Value
			if v.Tag == "!!null" { // "key:" with nothing after it
				value = ""
			}
			if err := c.Set(key, value, fmt.Sprintf("%s line %d", name, k.Line)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s line %d: %s: a list is not a valid option value; want a single value", name, v.Line, key)
		}
	}
	return nil
}
