package jobs

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	stream.Register(stream.Job{
		Name: "sum",
		Description: "sum a numeric CSV column per key column; writes key<TAB>sum, exact for integers and decimals (up to 18 decimal places). " +
			"Malformed rows (not a finite number, a wrong field count) fail the job with file:line, or are skipped with --on-bad-record=skip",
		Define: defineSum,
	})
}

// Row is a parsed CSV row of the sum job.
type Row struct {
	Key   string
	Value Number
}

func defineSum(fs *pflag.FlagSet) stream.Builder {
	input := fs.String("input", "", "CSV file, directory or glob (required)")
	output := fs.String("output", "", "directory to write part files to (required)")
	key := fs.String("key", "0", "key column: 0-based index, or a header name with --header")
	value := fs.String("value", "1", "numeric column to sum: 0-based index, or a header name with --header")
	header := fs.Bool("header", false, "the first line of every file names the columns (each file's own header places its columns)")
	sep := fs.String("separator", ",", "field separator (one character)")
	return func(env *stream.Env) error {
		if *input == "" || *output == "" {
			return errors.New("--input and --output are required")
		}
		if len([]rune(*sep)) != 1 {
			return fmt.Errorf("--separator %q: want one character", *sep)
		}
		if err := file.CheckOutputOutsideInputs("--output", *output, "--input", *input); err != nil {
			return err
		}
		opts := file.CSVOptions{Comma: []rune(*sep)[0]}
		var src *file.Source[Row]
		if *header {
			// Every file's header places the columns of that file's rows:
			// files may order their columns differently.
			src = file.CSVWithHeader(func(_ string, names []string) (func([]string) (Row, error), error) {
				return rowParser(names, *key, *value)
			}, opts, *input)
		} else {
			parse, err := rowParser(nil, *key, *value)
			if err != nil {
				return err
			}
			src = file.CSV(parse, opts, *input)
		}
		rows := stream.FromSource(env, "read "+*input, src, nil)
		sums := stream.Aggregate[string, Row, Sum, Sum](stream.KeyBy(rows, rowKey), "sum", rowSum{}, nil)
		checked := stream.TryMap(sums, "check sum", checkSum)
		checked.SinkTo("write "+*output, file.Sink(*output, formatSum))
		return nil
	}
}

// column finds a column by a 0-based index or, with names (a header), by
// name.
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

// rowParser returns the parser of rows whose header is names (nil without
// a header).
func rowParser(names []string, key, value string) (func([]string) (Row, error), error) {
	k, err := column(key, names)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	v, err := column(value, names)
	if err != nil {
		return nil, fmt.Errorf("--value: %w", err)
	}
	return func(fields []string) (Row, error) {
		if k >= len(fields) || v >= len(fields) {
			return Row{}, fmt.Errorf("row has %d fields, key column is %d and value column %d", len(fields), k, v)
		}
		x, err := ParseNumber(strings.TrimSpace(fields[v]))
		if err != nil {
			return Row{}, fmt.Errorf("value column %d: %w", v, err)
		}
		return Row{Key: fields[k], Value: x}, nil
	}, nil
}

func rowKey(r Row) string { return r.Key }

type rowSum struct{}

func (rowSum) Create() Sum            { return Sum{} }
func (rowSum) Add(acc Sum, r Row) Sum { return acc.Add(r.Value) }
func (rowSum) Merge(a, b Sum) Sum     { return a.Merge(b) }
func (rowSum) Result(acc Sum) Sum     { return acc }
func formatSum(dst []byte, kv stream.KV[string, Sum]) []byte {
	dst = append(dst, kv.Key...)
	dst = append(dst, '\t')
	return kv.Value.Append(dst)
}

// checkSum fails the job on a sum that left float64's range: its value
// would print as +Inf.
func checkSum(kv stream.KV[string, Sum]) (stream.KV[string, Sum], error) {
	if f := kv.Value.Float(); math.IsInf(f, 0) || math.IsNaN(f) {
		return kv, fmt.Errorf("sum of key %q is out of float64's range (%g): its values in exponent form or with more than 18 decimal places are summed as floats", kv.Key, f)
	}
	return kv, nil
}

// maxScale is the most decimal places a value is summed exactly with.
const maxScale = 18

// int128 is a two's complement 128-bit integer: exact sums of 64-bit
// values cannot overflow it.
type int128 struct {
	Hi int64
	Lo uint64
}

func int128Of(v int64) int128 { return int128{Hi: v >> 63, Lo: uint64(v)} }

func (a int128) add(b int128) (int128, bool) {
	lo, carry := bits.Add64(a.Lo, b.Lo, 0)
	hi := a.Hi + b.Hi + int64(carry)
	overflow := (a.Hi < 0) == (b.Hi < 0) && (hi < 0) != (a.Hi < 0)
	return int128{Hi: hi, Lo: lo}, !overflow
}

func (a int128) neg() int128 {
	lo, borrow := bits.Sub64(0, a.Lo, 0)
	return int128{Hi: -a.Hi - int64(borrow), Lo: lo}
}

// mul multiplies by m, reporting false on overflow.
func (a int128) mul(m uint64) (int128, bool) {
	if m == 1 {
		return a, true
	}
	negative := a.Hi < 0
	if negative {
		if a = a.neg(); a.Hi < 0 { // the most negative value
			return int128{}, false
		}
	}
	hiOfLo, lo := bits.Mul64(a.Lo, m)
	carry, hi := bits.Mul64(uint64(a.Hi), m)
	hi, c := bits.Add64(hi, hiOfLo, 0)
	if carry != 0 || c != 0 || hi > math.MaxInt64 {
		return int128{}, false
	}
	r := int128{Hi: int64(hi), Lo: lo}
	if negative {
		r = r.neg()
	}
	return r, true
}

func (a int128) big() *big.Int {
	b := new(big.Int).SetInt64(a.Hi)
	b.Lsh(b, 64)
	return b.Add(b, new(big.Int).SetUint64(a.Lo))
}

func (a int128) float() float64 {
	f, _ := new(big.Float).SetInt(a.big()).Float64()
	return f
}

var pow10 = func() (p [maxScale + 1]uint64) {
	p[0] = 1
	for i := 1; i <= maxScale; i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// Number is a value of the sum job's value column: exact (Units ×
// 10^-Scale) when written as a decimal number with at most 18 decimal
// places and 38 digits, otherwise a float64 (exponent form, "1e3").
type Number struct {
	Units   int128
	Scale   int32
	Float   float64 // the value as a float64, for inexact sums
	Inexact bool
}

// ParseNumber reads a number as CSV files write them: a decimal number
// ("12", "-3.25", ".5") is exact; other forms strconv.ParseFloat reads are
// floats. NaN, infinities and numbers out of float64's range are refused:
// a sum of them means nothing.
func ParseNumber(s string) (Number, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return Number{}, fmt.Errorf("%q is out of float64's range", s)
		}
		return Number{}, fmt.Errorf("%q is not a number", s)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Number{}, fmt.Errorf("%q is not a finite number", s)
	}
	if n, ok := parseDecimal(s); ok {
		n.Float = f
		return n, nil
	}
	return Number{Float: f, Inexact: true}, nil
}

// parseDecimal reads [+-]digits[.digits] exactly, if it fits.
func parseDecimal(s string) (Number, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || len(frac) > maxScale || !allDigits(intPart) || !allDigits(frac) {
		return Number{}, false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	var units int128
	if len(digits) <= 18 {
		v, _ := strconv.ParseInt("0"+digits, 10, 64)
		units = int128Of(v)
	} else {
		b, ok := new(big.Int).SetString(digits, 10)
		if !ok || b.BitLen() > 126 {
			return Number{}, false
		}
		lo := new(big.Int).And(b, new(big.Int).SetUint64(math.MaxUint64))
		units = int128{Hi: new(big.Int).Rsh(b, 64).Int64(), Lo: lo.Uint64()}
	}
	if neg {
		units = units.neg()
	}
	return Number{Units: units, Scale: int32(len(frac))}, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Sum is the sum job's per-key sum: exact while every value was exact and
// the sum fits 128 bits (it cannot overflow from 64-bit integers), else a
// float64.
type Sum struct {
	N Number
	// Started is set once a value was added.
	Started bool
}

// Add adds x.
func (s Sum) Add(x Number) Sum {
	if !s.Started {
		return Sum{N: x, Started: true}
	}
	return Sum{N: addNumbers(s.N, x), Started: true}
}

// Merge adds another sum.
func (s Sum) Merge(o Sum) Sum {
	switch {
	case !o.Started:
		return s
	case !s.Started:
		return o
	}
	return s.Add(o.N)
}

func addNumbers(a, b Number) Number {
	float := Number{Float: a.Float + b.Float, Inexact: true}
	if a.Inexact || b.Inexact {
		return float
	}
	scale := max(a.Scale, b.Scale)
	x, ok1 := a.Units.mul(pow10[scale-a.Scale])
	y, ok2 := b.Units.mul(pow10[scale-b.Scale])
	sum, ok3 := x.add(y)
	if !ok1 || !ok2 || !ok3 {
		return float
	}
	return Number{Units: sum, Scale: scale, Float: a.Float + b.Float}
}

// Float is the sum as a float64.
func (s Sum) Float() float64 {
	if s.N.Inexact {
		return s.N.Float
	}
	return s.N.Units.float() / math.Pow10(int(s.N.Scale))
}

// Append writes the sum: exact digits, without trailing zeros after the
// point, or the shortest float64 text.
func (s Sum) Append(dst []byte) []byte {
	if s.N.Inexact {
		return strconv.AppendFloat(dst, s.N.Float, 'f', -1, 64)
	}
	digits := s.N.Units.big().String()
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	scale := int(s.N.Scale)
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-scale], strings.TrimRight(digits[len(digits)-scale:], "0")
	if neg && (whole != "0" || frac != "") {
		dst = append(dst, '-')
	}
	dst = append(dst, whole...)
	if frac != "" {
		dst = append(dst, '.')
		dst = append(dst, frac...)
	}
	return dst
}
