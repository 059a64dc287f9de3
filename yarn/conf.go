package yarn

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Default ports of the ResourceManager (yarn-default.xml).
const (
	DefaultRMPort        = "8032"
	DefaultSchedulerPort = "8030"
)

// Config is where loom finds YARN.
type Config struct {
	// RMAddress is the ApplicationClientProtocol endpoint
	// (yarn.resourcemanager.address).
	RMAddress string
	// SchedulerAddress is the ApplicationMasterProtocol endpoint
	// (yarn.resourcemanager.scheduler.address).
	SchedulerAddress string
}

// LoadConfig reads yarn-site.xml from dir, or from $HADOOP_CONF_DIR when
// dir is empty, and applies Hadoop's defaults to what it does not set.
func LoadConfig(dir string) (*Config, error) {
	if dir == "" {
		dir = os.Getenv("HADOOP_CONF_DIR")
		if dir == "" {
			return nil, errors.New("yarn configuration: HADOOP_CONF_DIR is not set (point it at the directory holding yarn-site.xml)")
		}
	}
	file := filepath.Join(dir, "yarn-site.xml")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("yarn configuration: %s not found (is HADOOP_CONF_DIR=%s right?)", file, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("yarn configuration: %w", err)
	}
	props, err := parseSiteXML(data)
	if err != nil {
		return nil, fmt.Errorf("yarn configuration %s: %w", file, err)
	}
	return ConfigFromProperties(props), nil
}

// ConfigFromProperties derives the addresses from Hadoop properties the
// way YARN does: an explicit address wins; otherwise
// yarn.resourcemanager.hostname (default 0.0.0.0) with the default port.
// ${name} references to other properties are expanded.
func ConfigFromProperties(props map[string]string) *Config {
	get := func(k string) string { return expand(props[k], props, 0) }
	host := get("yarn.resourcemanager.hostname")
	if host == "" {
		host = "0.0.0.0"
	}
	addr := func(key, port string) string {
		if v := get(key); v != "" {
			return v
		}
		return net.JoinHostPort(host, port)
	}
	return &Config{
		RMAddress:        addr("yarn.resourcemanager.address", DefaultRMPort),
		SchedulerAddress: addr("yarn.resourcemanager.scheduler.address", DefaultSchedulerPort),
	}
}

// expand replaces ${name} with the property's value, as Hadoop's
// Configuration does (yarn-site.xml often writes
// ${yarn.resourcemanager.hostname}:8032). Unknown names stay as written.
func expand(v string, props map[string]string, depth int) string {
	if depth > 20 {
		return v
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		j := strings.IndexByte(v[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(v)
			return b.String()
		}
		name := v[i+2 : i+j]
		b.WriteString(v[:i])
		if val, ok := props[name]; ok {
			b.WriteString(expand(val, props, depth+1))
		} else {
			b.WriteString(v[i : i+j+1])
		}
		v = v[i+j+1:]
	}
}

// parseSiteXML reads the <property><name/><value/></property> entries of a
// Hadoop configuration file.
func parseSiteXML(data []byte) (map[string]string, error) {
	var doc struct {
		XMLName  xml.Name
		Property []struct {
			Name  string `xml:"name"`
			Value string `xml:"value"`
		} `xml:"property"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid XML: %w", err)
	}
	if doc.XMLName.Local != "configuration" {
		return nil, fmt.Errorf("root element <%s>, want <configuration>", doc.XMLName.Local)
	}
	props := map[string]string{}
	for _, p := range doc.Property {
		props[strings.TrimSpace(p.Name)] = strings.TrimSpace(p.Value)
	}
	return props, nil
}
