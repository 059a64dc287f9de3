package hdfs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// DefaultNameNodePort is the NameNode RPC port assumed for "hdfs://host/..."
// URIs without a port, as in Hadoop.
const DefaultNameNodePort = "8020"

// Config is what a client needs to find HDFS: the Hadoop configuration (if
// any) and the user to act as.
type Config struct {
	// Dir is the Hadoop configuration directory the settings came from, or
	// "" if none was found.
	Dir string
	// Conf holds the merged properties of Dir (see LoadHadoopConf).
	Conf map[string]string
	// User is the HDFS user: $HADOOP_USER_NAME, else the OS user.
	User string

	hc *hadoopConf
}

// containerDefaults are what a process of a job running in a container
// (the ApplicationMaster, a worker) uses when the environment names no
// Hadoop configuration or user: the *-site.xml files and the user the
// client shipped. Set once at the start of the process (UseContainerDefaults)
// instead of writing the process's environment.
var containerDefaults struct {
	sync.Mutex
	confDir, user string
}

// UseContainerDefaults makes confDir the Hadoop configuration LoadConfig
// reads when $HADOOP_CONF_DIR is unset, and user the HDFS user when
// $HADOOP_USER_NAME is unset ("" leaves either as it is). A container's
// roles call it with their working directory and the submitting user.
func UseContainerDefaults(confDir, user string) {
	containerDefaults.Lock()
	defer containerDefaults.Unlock()
	if confDir != "" {
		containerDefaults.confDir = confDir
	}
	if user != "" {
		containerDefaults.user = user
	}
}

// LoadConfig finds the Hadoop client configuration the way Hadoop's tools
// do: $HADOOP_CONF_DIR, else (in a container) the configuration the client
// shipped (UseContainerDefaults), else $HADOOP_HOME/etc/hadoop, else
// $HADOOP_HOME/conf. With none of them set it returns a Config without
// properties, which can still reach NameNodes named in full URIs
// ("hdfs://host:port/path").
func LoadConfig() (*Config, error) {
	if dir := os.Getenv("HADOOP_CONF_DIR"); dir != "" {
		c, err := LoadConfigDir(dir)
		if err != nil {
			return nil, fmt.Errorf("$HADOOP_CONF_DIR: %w", err)
		}
		return c, nil
	}
	containerDefaults.Lock()
	dir := containerDefaults.confDir
	containerDefaults.Unlock()
	if dir != "" {
		c, err := LoadConfigDir(dir)
		if err != nil {
			return nil, fmt.Errorf("the Hadoop configuration shipped with the job (%s): %w", dir, err)
		}
		return c, nil
	}
	if home := os.Getenv("HADOOP_HOME"); home != "" {
		for _, d := range []string{filepath.Join(home, "etc", "hadoop"), filepath.Join(home, "conf")} {
			if _, err := os.Stat(filepath.Join(d, "core-site.xml")); err == nil {
				c, err := LoadConfigDir(d)
				if err != nil {
					return nil, fmt.Errorf("$HADOOP_HOME: %w", err)
				}
				return c, nil
			}
		}
	}
	return &Config{Conf: map[string]string{}, User: hdfsUser()}, nil
}

// LoadConfigDir reads the Hadoop configuration in dir (see LoadHadoopConf).
func LoadConfigDir(dir string) (*Config, error) {
	hc, err := loadHadoopConf(dir)
	if err != nil {
		return nil, err
	}
	return &Config{Dir: dir, Conf: hc.values, User: hdfsUser(), hc: hc}, nil
}

func hdfsUser() string {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	containerDefaults.Lock()
	u := containerDefaults.user
	containerDefaults.Unlock()
	if u != "" {
		return u
	}
	return osUser()
}

// ConfDir is the directory of the Hadoop configuration LoadConfig reads
// ("" when none).
func ConfDir() string {
	if dir := os.Getenv("HADOOP_CONF_DIR"); dir != "" {
		return dir
	}
	containerDefaults.Lock()
	defer containerDefaults.Unlock()
	return containerDefaults.confDir
}

// DefaultFS returns fs.defaultFS (or the deprecated fs.default.name) and a
// description of where it was set, for error messages.
func (c *Config) DefaultFS() (uri, where string) {
	for _, k := range []string{"fs.defaultFS", "fs.default.name"} {
		if v := c.Conf[k]; v != "" {
			return v, c.describe(k)
		}
	}
	if c.Dir == "" {
		return "", "fs.defaultFS (no Hadoop configuration: $HADOOP_CONF_DIR is not set)"
	}
	return "", c.describe("fs.defaultFS")
}

func (c *Config) describe(key string) string {
	if c.hc == nil {
		return key + " (given in code)"
	}
	return c.hc.where(key)
}

// Location is a resolved HDFS path: the file system's authority (a
// "host:port" NameNode address or an HA nameservice name) and the absolute,
// cleaned path inside it.
type Location struct {
	Authority string
	Path      string
}

// URI returns "hdfs://authority/path".
func (l Location) URI() string { return "hdfs://" + l.Authority + l.Path }

// Resolve turns p into a Location. p may be
//
//	hdfs://host:port/a/b   an explicit NameNode (port 8020 if omitted)
//	hdfs://nameservice/a/b an HA nameservice of the configuration
//	hdfs:///a/b            the default file system (fs.defaultFS)
//	/a/b                   a path of the default file system
//	a/b                    relative to the user's home, /user/<user>/a/b
//
// It is an error if p has another scheme, or if p needs the default file
// system and fs.defaultFS is unset or not an hdfs:// URI; the error says
// where fs.defaultFS came from.
func (c *Config) Resolve(p string) (Location, error) {
	if p == "" {
		return Location{}, errors.New("empty HDFS path")
	}
	scheme, rest, hasScheme := splitScheme(p)
	if hasScheme {
		if scheme != "hdfs" {
			return Location{}, fmt.Errorf("path %s: scheme %q is not HDFS", p, scheme)
		}
		if !strings.HasPrefix(rest, "//") {
			// "hdfs:/a/b": no authority, a path of the default file system.
			return c.resolveDefault(p, rest)
		}
		rest = rest[2:]
		auth, pth := rest, "/"
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			auth, pth = rest[:i], rest[i:]
		}
		if auth == "" {
			return c.resolveDefault(p, pth)
		}
		auth, err := normalizeAuthority(auth, c.Conf)
		if err != nil {
			return Location{}, fmt.Errorf("path %s: %w", p, err)
		}
		return Location{Authority: auth, Path: cleanHDFSPath(pth)}, nil
	}
	return c.resolveDefault(p, p)
}

func (c *Config) resolveDefault(orig, pth string) (Location, error) {
	auth, err := c.DefaultAuthority()
	if err != nil {
		return Location{}, fmt.Errorf("path %s needs the default file system: %w", orig, err)
	}
	if !strings.HasPrefix(pth, "/") {
		pth = "/user/" + c.User + "/" + pth
	}
	return Location{Authority: auth, Path: cleanHDFSPath(pth)}, nil
}

// DefaultAuthority returns the authority of fs.defaultFS, which must be an
// hdfs:// URI.
func (c *Config) DefaultAuthority() (string, error) {
	uri, where := c.DefaultFS()
	if uri == "" {
		return "", fmt.Errorf("no default file system: %s is unset", where)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("%s = %q is not a URI: %v", where, uri, err)
	}
	if u.Scheme != "hdfs" || u.Host == "" {
		return "", fmt.Errorf("%s = %q is not an hdfs://host:port URI", where, uri)
	}
	return normalizeAuthority(u.Host, c.Conf)
}

// normalizeAuthority adds the default port to a plain host name, unless the
// name is an HA nameservice of the configuration.
func normalizeAuthority(auth string, conf map[string]string) (string, error) {
	if strings.ContainsAny(auth, "@?#") {
		return "", fmt.Errorf("authority %q: user info, query and fragment are not supported", auth)
	}
	if _, _, err := net.SplitHostPort(auth); err == nil {
		return auth, nil
	}
	if isNameservice(auth, conf) {
		return auth, nil
	}
	if strings.Contains(auth, ":") && !strings.HasPrefix(auth, "[") {
		return "", fmt.Errorf("authority %q is not host[:port]", auth)
	}
	return net.JoinHostPort(strings.Trim(auth, "[]"), DefaultNameNodePort), nil
}

func isNameservice(name string, conf map[string]string) bool {
	if _, ok := conf["dfs.ha.namenodes."+name]; ok {
		return true
	}
	for _, ns := range strings.Split(conf["dfs.nameservices"], ",") {
		if strings.TrimSpace(ns) == name {
			return true
		}
	}
	return false
}

// Namenodes returns the NameNode RPC addresses of an authority: the address
// itself for "host:port", or the addresses of every NameNode of an HA
// nameservice (dfs.ha.namenodes.<ns> and dfs.namenode.rpc-address.<ns>.<nn>).
func (c *Config) Namenodes(authority string) ([]string, error) {
	if !isNameservice(authority, c.Conf) {
		return []string{authority}, nil
	}
	ids := c.Conf["dfs.ha.namenodes."+authority]
	if ids == "" {
		return nil, fmt.Errorf("nameservice %s: %s lists no NameNodes", authority, c.describe("dfs.ha.namenodes."+authority))
	}
	var addrs []string
	for _, id := range strings.Split(ids, ",") {
		id = strings.TrimSpace(id)
		key := "dfs.namenode.rpc-address." + authority + "." + id
		a := c.Conf[key]
		if a == "" {
			return nil, fmt.Errorf("nameservice %s: NameNode %s has no address: %s is unset", authority, id, c.describe(key))
		}
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	return addrs, nil
}

// cleanHDFSPath makes p absolute and clean ("/a//b/../c/" -> "/a/c").
func cleanHDFSPath(p string) string {
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}

// splitScheme splits "scheme:rest" where scheme is a URI scheme of two or
// more characters (so "C:\x" is not taken for one); the scheme is lower-cased.
func splitScheme(p string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(p, ':')
	if i < 2 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		ch := p[j]
		letter := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
		if !letter && (j == 0 || !(ch >= '0' && ch <= '9' || ch == '+' || ch == '-' || ch == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(p[:i]), p[i+1:], true
}
