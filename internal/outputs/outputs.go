// Package outputs reads what a job wrote to a local output directory, the
// way a user checks it: the lines of every visible file (names not starting
// with '.' or '_', so in-progress and marker files are ignored), sorted.
// Tests of several packages compare job outputs with it.
package outputs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Lines returns the sorted non-empty lines of the visible files in dir.
func Lines(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	sort.Strings(lines)
	return lines, nil
}
