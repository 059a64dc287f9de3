package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// ErrNoMatch is returned (wrapped, with the pattern) by List when a pattern
// names no file.
var ErrNoMatch = errors.New("no such file or directory")

// Hidden reports whether a file name is hidden from listings: names starting
// with '.' or '_' (in-progress files, _SUCCESS markers, .crc files).
func Hidden(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// List expands pattern on fsys into the sorted list of files it names, the
// way file sources read their input: a file names itself, a directory its
// non-hidden files recursively, a glob (path.Match syntax in any component)
// the files and directories it matches. A pattern matching nothing is an
// error naming it that satisfies errors.Is(err, ErrNoMatch). It is a function
// over FS rather than a method so that every file system expands patterns
// the same way.
func List(fsys FS, pattern string) ([]string, error) {
	var roots []string
	if hasMeta(pattern) {
		var err error
		roots, err = glob(fsys, pattern)
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
		fi, err := fsys.Stat(r)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("input %s: %w", r, ErrNoMatch)
			}
			return nil, fmt.Errorf("input %s: %w", r, err)
		}
		if !fi.IsDir() {
			files = append(files, r)
			continue
		}
		if files, err = walk(fsys, r, files); err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return dedup(files), nil
}

// walk appends the non-hidden files below dir.
func walk(fsys FS, dir string, files []string) ([]string, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("input %s: list directory: %w", dir, err)
	}
	for _, e := range entries {
		if Hidden(e.Name()) {
			continue
		}
		p := path.Join(dir, e.Name())
		if e.IsDir() {
			if files, err = walk(fsys, p, files); err != nil {
				return nil, err
			}
			continue
		}
		files = append(files, p)
	}
	return files, nil
}

// glob expands a pattern component by component, so that a meta character in
// any directory component works (like filepath.Glob), on any FS.
func glob(fsys FS, pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	dir, file := path.Split(pattern)
	dir = cleanDir(dir)
	var dirs []string
	if hasMeta(dir) {
		var err error
		if dirs, err = glob(fsys, dir); err != nil {
			return nil, err
		}
	} else {
		dirs = []string{dir}
	}
	var out []string
	for _, dd := range dirs {
		if !hasMeta(file) {
			p := path.Join(dd, file)
			if _, err := fsys.Stat(p); err == nil {
				out = append(out, p)
			}
			continue
		}
		fi, err := fsys.Stat(dd)
		if err != nil || !fi.IsDir() {
			continue
		}
		entries, err := fsys.ReadDir(dd)
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
