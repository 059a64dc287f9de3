package jobs

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	stream.Register(stream.Job{
		Name:        "grep",
		Description: "write the lines of text files that match a regular expression, unchanged",
		Define:      defineGrep,
	})
}

func defineGrep(fs *pflag.FlagSet) stream.Builder {
	input := fs.String("input", "", "text file, directory or glob to read (required; local or hdfs://)")
	pattern := fs.String("pattern", "", "regular expression (Go RE2 syntax) a line must match (required)")
	output := fs.String("output", "", "directory to write part files to (required; local or hdfs://)")
	return func(env *stream.Env) error {
		if *input == "" || *output == "" || *pattern == "" {
			return errors.New("--input, --pattern and --output are required")
		}
		if err := file.CheckOutputOutsideInputs("--output", *output, "--input", *input); err != nil {
			return err
		}
		re, err := regexp.Compile(*pattern)
		if err != nil {
			return fmt.Errorf("--pattern %q: %w", *pattern, err)
		}
		lines := stream.FromSource(env, "read "+*input, file.Text(*input), nil)
		matching := stream.Filter(lines, "match "+*pattern, re.MatchString)
		matching.SinkTo("write "+*output, file.Sink(*output, file.Lines))
		return nil
	}
}
