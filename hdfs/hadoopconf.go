package hdfs

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
)

// HadoopConfFiles are the files LoadHadoopConf reads from a configuration
// directory, in this order; a later file overrides an earlier one except for
// properties marked <final>true</final>.
var HadoopConfFiles = []string{"core-site.xml", "hdfs-site.xml", "yarn-site.xml"}

// LoadHadoopConf reads the Hadoop client configuration in dir (core-site.xml,
// hdfs-site.xml and yarn-site.xml, each optional) into one map from property
// name to value, expanding ${name}, ${env.NAME} and ${user.name} references
// the way Hadoop does. It is an error if dir holds none of the files; errors
// name the file and the problem.
func LoadHadoopConf(dir string) (map[string]string, error) {
	c, err := loadHadoopConf(dir)
	if err != nil {
		return nil, err
	}
	return c.values, nil
}

// hadoopConf is a parsed configuration directory, remembering which file set
// each property (for error messages).
type hadoopConf struct {
	dir    string
	values map[string]string
	source map[string]string // property -> file it came from
	final  map[string]bool
}

func loadHadoopConf(dir string) (*hadoopConf, error) {
	c := &hadoopConf{dir: dir, values: map[string]string{}, source: map[string]string{}, final: map[string]bool{}}
	found := 0
	for _, name := range HadoopConfFiles {
		file := filepath.Join(dir, name)
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hadoop configuration %s: %w", file, err)
		}
		found++
		props, err := parseHadoopXML(data)
		if err != nil {
			return nil, fmt.Errorf("hadoop configuration %s: %w", file, err)
		}
		for _, p := range props {
			if c.final[p.name] {
				continue
			}
			c.values[p.name] = p.value
			c.source[p.name] = file
			if p.final {
				c.final[p.name] = true
			}
		}
	}
	if found == 0 {
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("hadoop configuration directory %s: %w", dir, err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("hadoop configuration directory %s: not a directory", dir)
		}
		return nil, fmt.Errorf("hadoop configuration directory %s: none of %s found", dir, strings.Join(HadoopConfFiles, ", "))
	}
	for k, v := range c.values {
		x, err := expandHadoopVars(v, c.values)
		if err != nil {
			return nil, fmt.Errorf("hadoop configuration %s: property %s: %w", c.source[k], k, err)
		}
		c.values[k] = x
	}
	return c, nil
}

// where describes where a property was set, e.g.
// "fs.defaultFS in /etc/hadoop/conf/core-site.xml".
func (c *hadoopConf) where(key string) string {
	if c == nil {
		return key + " (no Hadoop configuration loaded)"
	}
	if f, ok := c.source[key]; ok {
		return key + " in " + f
	}
	return key + " (not set in " + c.dir + ")"
}

type hadoopProp struct {
	name, value string
	final       bool
}

// parseHadoopXML parses one Hadoop configuration file:
//
//	<configuration>
//	  <property><name>k</name><value>v</value><final>true</final></property>
//	</configuration>
//
// Unknown elements inside <property> (description, source) are ignored, as
// Hadoop does.
func parseHadoopXML(data []byte) ([]hadoopProp, error) {
	type xmlProp struct {
		Name  *string `xml:"name"`
		Value *string `xml:"value"`
		Final string  `xml:"final"`
	}
	type xmlConf struct {
		XMLName  xml.Name
		Property []xmlProp `xml:"property"`
	}
	var doc xmlConf
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file, want a <configuration> element")
		}
		return nil, fmt.Errorf("not valid XML: %w", err)
	}
	if doc.XMLName.Local != "configuration" {
		return nil, fmt.Errorf("root element is <%s>, want <configuration>", doc.XMLName.Local)
	}
	props := make([]hadoopProp, 0, len(doc.Property))
	for i, p := range doc.Property {
		if p.Name == nil || strings.TrimSpace(*p.Name) == "" {
			return nil, fmt.Errorf("<property> number %d has no <name>", i+1)
		}
		hp := hadoopProp{name: strings.TrimSpace(*p.Name), final: strings.TrimSpace(p.Final) == "true"}
		if p.Value != nil {
			hp.value = strings.TrimSpace(*p.Value)
		}
		props = append(props, hp)
	}
	return props, nil
}

// expandHadoopVars replaces ${name} with the property's value, ${env.NAME}
// with the environment variable and ${user.name} with the OS user, as
// Hadoop's Configuration does. An unknown reference is left as it is.
func expandHadoopVars(v string, props map[string]string) (string, error) {
	for depth := 0; strings.Contains(v, "${"); depth++ {
		if depth == 20 {
			return "", fmt.Errorf("variable expansion of %q goes more than 20 levels deep (a cycle?)", v)
		}
		var b strings.Builder
		changed := false
		rest := v
		for {
			i := strings.Index(rest, "${")
			if i < 0 {
				b.WriteString(rest)
				break
			}
			j := strings.IndexByte(rest[i:], '}')
			if j < 0 {
				b.WriteString(rest)
				break
			}
			name := rest[i+2 : i+j]
			b.WriteString(rest[:i])
			if val, ok := lookupHadoopVar(name, props); ok {
				b.WriteString(val)
				changed = true
			} else {
				b.WriteString(rest[i : i+j+1])
			}
			rest = rest[i+j+1:]
		}
		v = b.String()
		if !changed {
			break
		}
	}
	return v, nil
}

func lookupHadoopVar(name string, props map[string]string) (string, bool) {
	if env, ok := strings.CutPrefix(name, "env."); ok {
		return os.LookupEnv(env)
	}
	if v, ok := props[name]; ok {
		return v, true
	}
	if name == "user.name" {
		return osUser(), true
	}
	return "", false
}

// osUser is the name of the user running this process.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
