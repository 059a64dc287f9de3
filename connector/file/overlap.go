package file

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/loom-yarn/loom/vfs"
)

// Covers reports whether p, a file or directory that a job writes (an
// output directory, a dead-letter file), is, or lies inside, what pattern
// names as an input the way file sources read it: a file, a directory and
// everything below it, or the files and directories a glob matches and
// everything below them. Writing there would destroy or change input
// before it is read (--dead-letter naming the input truncated it), or make
// a job read its own output.
//
// Both are compared as paths, without listing anything, so p need not
// exist yet. Local paths are made absolute and the symbolic links of their
// existing part resolved; URIs (hdfs://...) match only URIs with the same
// scheme and authority, compared as written.
func Covers(pattern, p string) bool {
	fsA, a := canonicalPath(pattern)
	fsB, b := canonicalPath(p)
	if fsA != fsB {
		return false
	}
	pa, pb := components(a), components(b)
	if len(pb) < len(pa) {
		return false
	}
	for i, c := range pa {
		if c == pb[i] {
			continue
		}
		if ok, err := path.Match(c, pb[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// canonicalPath splits a path or URI into the file system it names
// (vfs.Prefix, "" for local paths, file:// URIs included) and a clean
// absolute path in it.
func canonicalPath(uri string) (fsys, p string) {
	prefix := vfs.Prefix(uri)
	p = strings.TrimPrefix(uri, prefix)
	if prefix != "" && prefix != "file://" && !strings.HasPrefix(prefix, "file:") {
		if p == "" {
			p = "/"
		}
		return prefix, path.Clean(p)
	}
	return "", realPath(p)
}

// realPath makes a local path absolute and resolves the symbolic links of
// its longest existing part without glob characters, so that a link to an
// input directory is caught; the rest is kept as written.
func realPath(p string) string {
	abs, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return path.Clean(p)
	}
	var rest []string
	dir := abs
	for {
		if !strings.ContainsAny(dir, `*?[\`) {
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				dir = real
				break
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		rest = append(rest, filepath.Base(dir))
		dir = parent
	}
	for i := len(rest) - 1; i >= 0; i-- {
		dir = filepath.Join(dir, rest[i])
	}
	return filepath.ToSlash(dir)
}

// components splits a clean absolute path into its names ("/" has none).
func components(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// CheckOutputOutsideInputs refuses an output path that is, or lies inside,
// one of a job's input patterns, or an input that lies inside the output:
// what outputFlag and inputFlag name ("--output", "--input") is in the
// message. It is the check of the built-in jobs; a job of its own calls it
// with its flags.
func CheckOutputOutsideInputs(outputFlag, output, inputFlag string, inputs ...string) error {
	for _, in := range inputs {
		switch {
		case Covers(in, output) && Covers(output, in):
			return fmt.Errorf("%s %s is the same path as %s %s: the job would overwrite its input; write the output somewhere else", outputFlag, output, inputFlag, in)
		case Covers(in, output):
			return fmt.Errorf("%s %s lies inside %s %s: the job would write into its input (and a later run would read its output as input); write the output somewhere else", outputFlag, output, inputFlag, in)
		case Covers(output, staticPrefix(in)):
			return fmt.Errorf("%s %s lies inside %s %s: the job would read the files it writes; read from somewhere else, or write the output somewhere else", inputFlag, in, outputFlag, output)
		}
	}
	return nil
}

// staticPrefix is the part of a pattern before its first component with a
// glob character: the directory every match lies in.
func staticPrefix(pattern string) string {
	i := strings.IndexAny(pattern, `*?[\`)
	if i < 0 {
		return pattern
	}
	j := strings.LastIndexByte(pattern[:i], '/')
	if j <= 0 {
		if j == 0 {
			return "/"
		}
		return "."
	}
	return pattern[:j]
}
