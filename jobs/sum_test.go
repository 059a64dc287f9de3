package jobs

import (
	"strings"
	"testing"

	"github.com/loom-yarn/loom/stream"
)

// TestSumIsExact: sums of integers and decimals are exact, also past 2^53
// and past int64's range, and values that are not finite numbers are
// refused (issue 10, item 11: sum accepted NaN and Inf, overflowed to +Inf
// and lost precision above 2^53).
func TestSumIsExact(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"integers", []string{"10", "5", "-3"}, "12"},
		{"past 2^53", []string{"9007199254740993", "1"}, "9007199254740994"},
		{"past int64", []string{"9223372036854775807", "9223372036854775807", "2"}, "18446744073709551616"},
		{"negative past int64", []string{"-9223372036854775808", "-9223372036854775808"}, "-18446744073709551616"},
		{"decimals", []string{"0.1", "0.2"}, "0.3"},
		{"mixed scales", []string{"10", "2.5", "0.125"}, "12.625"},
		{"trailing zeros", []string{"1.50", "1.50"}, "3"},
		{"small negative", []string{"-0.25", "0.05"}, "-0.2"},
		{"leading dot and sign", []string{".5", "+.5", "-1"}, "0"},
		{"long decimal", []string{"123456789012345678901234567890.5", "0.5"}, "123456789012345678901234567891"},
		{"exponent form is a float", []string{"1e3", "0.5"}, "1000.5"},
	}
	parse, err := rowParser(nil, "0", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var acc Sum
			for i, v := range tt.values {
				r, err := parse([]string{"k", v})
				if err != nil {
					t.Fatalf("value %q: %v", v, err)
				}
				// Half the values through Merge, as partial sums meet.
				if i%2 == 0 {
					acc = rowSum{}.Add(acc, r)
				} else {
					acc = rowSum{}.Merge(acc, rowSum{}.Add(rowSum{}.Create(), r))
				}
			}
			if got := string(acc.Append(nil)); got != tt.want {
				t.Fatalf("sum of %v = %s, want %s", tt.values, got, tt.want)
			}
		})
	}
}

func TestSumRefusesNonFinite(t *testing.T) {
	parse, _ := rowParser(nil, "0", "1")
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Infinity", "1e400", "ten", ""} {
		_, err := parse([]string{"k", v})
		if err == nil || !strings.Contains(err.Error(), "value column 1") {
			t.Errorf("value %q: %v, want refused", v, err)
		}
	}
	// Finite values whose float sum leaves float64's range fail the job.
	big, _ := parse([]string{"k", "1e308"})
	acc := rowSum{}.Add(rowSum{}.Add(Sum{}, big), big)
	if _, err := checkSum(stream.KV[string, Sum]{Key: "k", Value: acc}); err == nil || !strings.Contains(err.Error(), `sum of key "k" is out of float64's range`) {
		t.Fatalf("overflowing sum: %v", err)
	}
}

func TestSumColumnsByHeader(t *testing.T) {
	parse, err := rowParser([]string{"amount", " who "}, "who", "amount")
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse([]string{"7", "ann"})
	if err != nil || r.Key != "ann" || string(Sum{}.Add(r.Value).Append(nil)) != "7" {
		t.Fatalf("got %+v, %v", r, err)
	}
	if _, err := rowParser([]string{"a", "b"}, "who", "b"); err == nil || err.Error() != `--key: column "who" is not in the header (a,b)` {
		t.Fatalf("missing column: %v", err)
	}
}
