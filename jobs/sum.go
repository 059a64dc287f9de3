package jobs

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/connector/fs"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	stream.Register(stream.Job{
		Name:        "sum",
		Description: "sum a numeric CSV column per key column; writes key<TAB>sum. Malformed rows fail the job with file:line, or are skipped with --on-bad-record=skip",
		Define:      defineSum,
	})
}

// Row is a parsed CSV row of the sum job.
type Row struct {
	Key   string
	Value float64
}

func defineSum(fs *pflag.FlagSet) stream.Builder {
	input := fs.String("input", "", "CSV file, directory or glob (required)")
	output := fs.String("output", "", "directory to write part files to (required)")
	key := fs.String("key", "0", "key column: 0-based index, or a header name with --header")
	value := fs.String("value", "1", "numeric column to sum: 0-based index, or a header name with --header")
	header := fs.Bool("header", false, "the first line of every file names the columns")
	sep := fs.String("separator", ",", "field separator (one character)")
	return func(env *stream.Env) error {
		if *input == "" || *output == "" {
			return errors.New("--input and --output are required")
		}
		if len([]rune(*sep)) != 1 {
			return fmt.Errorf("--separator %q: want one character", *sep)
		}
		src := file.CSV(parseRow(*key, *value), file.CSVOptions{Comma: []rune(*sep)[0], SkipHeader: *header}, *input)
		if *header {
			names, err := headerOf(src, *sep)
			if err != nil {
				return err
			}
			src = file.CSV(parseRowNamed(names, *key, *value), file.CSVOptions{Comma: []rune(*sep)[0], SkipHeader: true}, *input)
		}
		rows := stream.FromSource(env, "read "+*input, src, nil)
		sums := stream.Aggregate[string, Row, float64, float64](stream.KeyBy(rows, rowKey), "sum", rowSum{}, nil)
		sums.SinkTo("write "+*output, file.Sink(*output, formatSum))
		return nil
	}
}

// headerOf reads the header line of the first input file.
func headerOf(src *file.Source[Row], sep string) ([]string, error) {
	files, err := src.Files()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no input files to read a header from")
	}
	fsys, p, err := fs.For(files[0])
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return nil, fmt.Errorf("read the header of %s: %w", files[0], err)
	}
	return strings.Split(strings.TrimRight(line, "\r\n"), sep), nil
}

func column(spec string, names []string) (int, error) {
	if i, err := strconv.Atoi(spec); err == nil && i >= 0 {
		return i, nil
	}
	for i, n := range names {
		if strings.TrimSpace(n) == spec {
			return i, nil
		}
	}
	if names == nil {
		return 0, fmt.Errorf("column %q: want a 0-based index (or a header name with --header)", spec)
	}
	return 0, fmt.Errorf("column %q is not in the header (%s)", spec, strings.Join(names, ","))
}

func parseRow(key, value string) func([]string) (Row, error) {
	return parseRowNamed(nil, key, value)
}

func parseRowNamed(names []string, key, value string) func([]string) (Row, error) {
	k, kerr := column(key, names)
	v, verr := column(value, names)
	return func(fields []string) (Row, error) {
		if kerr != nil {
			return Row{}, kerr
		}
		if verr != nil {
			return Row{}, verr
		}
		if k >= len(fields) || v >= len(fields) {
			return Row{}, fmt.Errorf("row has %d fields, key column is %d and value column %d", len(fields), k, v)
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(fields[v]), 64)
		if err != nil {
			return Row{}, fmt.Errorf("value column %d: %q is not a number", v, fields[v])
		}
		return Row{Key: fields[k], Value: x}, nil
	}
}

func rowKey(r Row) string { return r.Key }

type rowSum struct{}

func (rowSum) Create() float64                { return 0 }
func (rowSum) Add(acc float64, r Row) float64 { return acc + r.Value }
func (rowSum) Merge(a, b float64) float64     { return a + b }
func (rowSum) Result(acc float64) float64     { return acc }

func formatSum(dst []byte, kv stream.KV[string, float64]) []byte {
	dst = append(dst, kv.Key...)
	dst = append(dst, '\t')
	return strconv.AppendFloat(dst, kv.Value, 'f', -1, 64)
}
