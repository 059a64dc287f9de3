package cli_test

import (
	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/stream"
)

// taggedWord has a map, for which no codec can be derived: records of this
// type cannot cross workers.
type taggedWord struct {
	Word string
	Tags map[string]int
}

func init() {
	// A job whose keyed edge carries taggedWord: submit must refuse it on
	// more than one worker, naming the edge and the type.
	stream.Register(stream.Job{Name: "cli-test-nocodec", Description: "keys records that have no codec", Define: func(fs *pflag.FlagSet) stream.Builder {
		input := fs.String("input", "", "")
		output := fs.String("output", "", "")
		return func(env *stream.Env) error {
			lines := stream.FromSource(env, "read", file.Text(*input), nil)
			tagged := stream.Map(lines, "tag", func(s string) taggedWord { return taggedWord{Word: s} })
			keyed := stream.KeyBy(tagged, func(w taggedWord) string { return w.Word })
			last := stream.Reduce(keyed, "last", func(_, b taggedWord) taggedWord { return b }, codec.JSON[taggedWord]())
			words := stream.Map(last, "word", func(w taggedWord) string { return w.Word })
			words.SinkTo("write", file.Sink(*output, file.Lines))
			return nil
		}
	}})
}
