package vfs

import (
	"fmt"
	"strings"
	"sync"
)

var (
	regMu   sync.Mutex
	openers = map[string]func(authority string) (FS, error){}
	opened  = map[string]FS{}
)

// Register makes Resolve turn URIs with the given scheme ("hdfs") into file
// systems through open, called with the URI's authority ("host:port", or ""
// for "scheme:///path", meaning the scheme's default, e.g. fs.defaultFS).
// open is called at most once successfully per authority; its file system is
// shared by every caller. Registering a scheme again replaces the first
// registration (and forgets the file systems it opened). The registry lives
// here, at the bottom, so that checkpoint storage and the connectors resolve
// the same URIs without knowing who implements them.
func Register(scheme string, open func(authority string) (FS, error)) {
	scheme = strings.ToLower(scheme)
	regMu.Lock()
	defer regMu.Unlock()
	openers[scheme] = open
	for k := range opened {
		if strings.HasPrefix(k, scheme+"://") {
			delete(opened, k)
		}
	}
}

// Resolve turns a path or URI into its file system and the path inside it.
// Plain paths and "file:" URIs go to Default; "scheme://authority/p" goes to
// the file system the scheme's registration opens for that authority, with
// path "/p". An unregistered scheme is an error naming it.
func Resolve(uri string) (FS, string, error) {
	scheme, authority, p, ok := splitURI(uri)
	if !ok || scheme == "file" {
		return Default, p, nil
	}
	key := scheme + "://" + authority
	regMu.Lock()
	defer regMu.Unlock()
	if fsys, ok := opened[key]; ok {
		return fsys, p, nil
	}
	open, ok := openers[scheme]
	if !ok {
		return nil, "", fmt.Errorf("path %s: no file system registered for scheme %q (loom knows file:// and plain paths; hdfs:// needs the hdfs package linked in)", uri, scheme)
	}
	fsys, err := open(authority)
	if err != nil {
		return nil, "", fmt.Errorf("path %s: open %s file system: %w", uri, scheme, err)
	}
	opened[key] = fsys
	return fsys, p, nil
}

// Prefix is the part of uri before the path Resolve returns for it
// ("hdfs://nn:8020", "file://", or "" for a plain path), so that Prefix(uri)
// followed by another path of the same file system names that path as a URI
// of the same form. Checkpoint storage uses it to hand back directories in
// the form it was given.
func Prefix(uri string) string {
	_, _, p, ok := splitURI(uri)
	if !ok {
		return ""
	}
	if strings.HasSuffix(uri, p) {
		return uri[:len(uri)-len(p)]
	}
	return uri // "scheme://authority" alone: Resolve's path is "/"
}

// splitURI splits "scheme://authority/p" into its parts; "scheme:p" has no
// authority. ok is false for a plain path.
func splitURI(uri string) (scheme, authority, p string, ok bool) {
	scheme, rest, ok := splitScheme(uri)
	if !ok {
		return "", "", uri, false
	}
	p = rest
	if strings.HasPrefix(rest, "//") {
		// "//host:port/path" -> authority "host:port", path "/path".
		i := strings.IndexByte(rest[2:], '/')
		if i < 0 {
			authority, p = rest[2:], "/"
		} else {
			authority, p = rest[2:2+i], rest[2+i:]
		}
	}
	return scheme, authority, p, true
}

// splitScheme splits "scheme:rest". A scheme is letters, digits, '+', '-',
// '.', starting with a letter, and longer than one character so that Windows
// drive letters are not taken for schemes.
func splitScheme(uri string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(uri, ':')
	if i < 2 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		c := uri[j]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(uri[:i]), uri[i+1:], true
}
