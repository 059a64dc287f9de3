// Package jobs holds the jobs built into the loom binary. Importing it
// registers them.
package jobs

import (
	"errors"
	"strconv"
	"unicode"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	stream.Register(stream.Job{
		Name:        "wordcount",
		Description: "count words in text files: lower-cased, split on non-letters; writes word<TAB>count lines",
		Define:      defineWordCount,
	})
}

func defineWordCount(fs *pflag.FlagSet) stream.Builder {
	input := fs.String("input", "", "text file, directory or glob to read (required)")
	output := fs.String("output", "", "directory to write part files to (required; must be empty or absent)")
	return func(env *stream.Env) error {
		if *input == "" || *output == "" {
			return errors.New("--input and --output are required")
		}
		if err := file.CheckOutputOutsideInputs("--output", *output, "--input", *input); err != nil {
			return err
		}
		lines := stream.FromSource(env, "read "+*input, file.Text(*input), nil)
		words := stream.FlatMap(lines, "split words", splitWords)
		counts := stream.Aggregate(stream.KeyBy(words, identity), "count", stream.Count[string](), nil)
		counts.SinkTo("write "+*output, file.Sink(*output, formatCount))
		return nil
	}
}

// splitWords emits the lower-cased runs of letters of a line.
func splitWords(line string, out *stream.Collector[string]) error {
	start := -1
	lower := true
	for i, r := range line {
		if unicode.IsLetter(r) {
			if start < 0 {
				start, lower = i, true
			}
			if !unicode.IsLower(r) {
				lower = false
			}
			continue
		}
		if start >= 0 {
			out.Collect(word(line[start:i], lower))
			start = -1
		}
	}
	if start >= 0 {
		out.Collect(word(line[start:], lower))
	}
	return nil
}

// word returns w lower-cased, without copying when it already is.
func word(w string, lower bool) string {
	if lower {
		return w
	}
	b := []rune(w)
	for i, r := range b {
		b[i] = unicode.ToLower(r)
	}
	return string(b)
}

func identity(s string) string { return s }

func formatCount(dst []byte, kv stream.KV[string, int64]) []byte {
	dst = append(dst, kv.Key...)
	dst = append(dst, '\t')
	return strconv.AppendInt(dst, kv.Value, 10)
}
