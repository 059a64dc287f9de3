package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"sort"
	"strings"
)

// DirReader is the part of a FileSystem that List needs; a FileSystem
// implements List by calling ListFiles(itself, pattern).
type DirReader interface {
	Stat(path string) (iofs.FileInfo, error)
	ReadDir(path string) ([]iofs.FileInfo, error)
}

// ListFiles implements FileSystem.List on top of Stat and ReadDir, so that
// every file system expands patterns the same way. Paths are slash-separated.
func ListFiles(d DirReader, pattern string) ([]string, error) {
	var roots []string
	if hasMeta(pattern) {
		var err error
		roots, err = glob(d, pattern)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", pattern, err)
		}
		if len(roots) == 0 {
			return nil, fmt.Errorf("input %s: %w", pattern, ErrNoMatch)
		}
	} else {
		roots = []string{pattern}
	}
	var files []string
	for _, r := range roots {
		fi, err := d.Stat(r)
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				return nil, fmt.Errorf("input %s: %w", r, ErrNoMatch)
			}
			return nil, fmt.Errorf("input %s: %w", r, err)
		}
		if !fi.IsDir() {
			files = append(files, r)
			continue
		}
		if files, err = walk(d, r, files); err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return dedup(files), nil
}

// walk appends the non-hidden files below dir.
func walk(d DirReader, dir string, files []string) ([]string, error) {
	entries, err := d.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("input %s: list directory: %w", dir, err)
	}
	for _, e := range entries {
		if Hidden(e.Name()) {
			continue
		}
		p := path.Join(dir, e.Name())
		if e.IsDir() {
			if files, err = walk(d, p, files); err != nil {
				return nil, err
			}
			continue
		}
		files = append(files, p)
	}
	return files, nil
}

// glob expands a pattern component by component, so that a meta character in
// any directory component works (like filepath.Glob), on any DirReader.
func glob(d DirReader, pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	dir, file := path.Split(pattern)
	dir = cleanDir(dir)
	var dirs []string
	if hasMeta(dir) {
		var err error
		if dirs, err = glob(d, dir); err != nil {
			return nil, err
		}
	} else {
		dirs = []string{dir}
	}
	var out []string
	for _, dd := range dirs {
		if !hasMeta(file) {
			p := path.Join(dd, file)
			if _, err := d.Stat(p); err == nil {
				out = append(out, p)
			}
			continue
		}
		fi, err := d.Stat(dd)
		if err != nil || !fi.IsDir() {
			continue
		}
		entries, err := d.ReadDir(dd)
		if err != nil {
			return nil, fmt.Errorf("list directory %s: %w", dd, err)
		}
		for _, e := range entries {
			// Like a shell, a wildcard does not match a leading dot.
			if strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(file, ".") {
				continue
			}
			if ok, _ := path.Match(file, e.Name()); ok {
				out = append(out, path.Join(dd, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func cleanDir(dir string) string {
	switch dir {
	case "":
		return "."
	case "/":
		return "/"
	}
	return strings.TrimSuffix(dir, "/")
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
