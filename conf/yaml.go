package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	yaml "go.yaml.in/yaml/v3"
)

// LoadYAML reads options from a YAML file. Keys may be flat
// ("state.backend: lsm"), nested ("state: {backend: lsm}") or both; nested
// keys are joined with dots. Every error names the file and line.
func LoadYAML(path string) (*Config, error) {
	data, err := os.ReadFile(path)
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
	seen := map[string]int{} // key -> line, to reject a key set twice
	return c.walkYAML(name, "", root, seen)
}

// walkYAML applies the pairs of mapping m, whose keys are prefixed by prefix.
func (c *Config) walkYAML(name, prefix string, m *yaml.Node, seen map[string]int) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return fmt.Errorf("%s line %d: want an option key (text) here", name, k.Line)
		}
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		for v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		switch v.Kind {
		case yaml.MappingNode:
			if err := c.walkYAML(name, key, v, seen); err != nil {
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
