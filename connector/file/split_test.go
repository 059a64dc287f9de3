package file

import (
	"reflect"
	"testing"
)

func TestPlanSplits(t *testing.T) {
	const M = MinSplitSize
	tests := []struct {
		name        string
		sizes       []int64
		maxSize     int64
		parallelism int
		want        []split
		wantSize    int64
	}{
		{"small file, one split", []int64{100}, DefaultSplitSize, 4, []split{{0, 0, 100}}, M},
		{"empty files get no split", []int64{0, 10, 0}, DefaultSplitSize, 1, []split{{1, 0, 10}}, M},
		{"user split size", []int64{10}, 4, 1, []split{{0, 0, 4}, {0, 4, 8}, {0, 8, 10}}, 4},
		{"slop merges a small tail", []int64{21}, 10, 1, []split{{0, 0, 10}, {0, 10, 21}}, 10},
		{"tail above slop is its own split", []int64{22}, 10, 1, []split{{0, 0, 10}, {0, 10, 20}, {0, 20, 22}}, 10},
		{"big input shrinks splits for parallelism", []int64{8 * M}, DefaultSplitSize, 4,
			[]split{{0, 0, 2 * M}, {0, 2 * M, 4 * M}, {0, 4 * M, 6 * M}, {0, 6 * M, 8 * M}}, 2 * M},
		{"never below MinSplitSize on its own", []int64{2 * M}, DefaultSplitSize, 8, []split{{0, 0, M}, {0, M, 2 * M}}, M},
		{"several files, splits in file order", []int64{5, 3}, 2, 1,
			[]split{{0, 0, 2}, {0, 2, 4}, {0, 4, 5}, {1, 0, 2}, {1, 2, 3}}, 2},
		{"split size 1", []int64{3}, 1, 1, []split{{0, 0, 1}, {0, 1, 2}, {0, 2, 3}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planSplits(tt.sizes, nil, tt.maxSize, tt.parallelism)
			if !reflect.DeepEqual(p.splits, tt.want) || p.size != tt.wantSize {
				t.Fatalf("got size %d %v\nwant size %d %v", p.size, p.splits, tt.wantSize, tt.want)
			}
		})
	}
}

// TestPlanSplitsCovers checks the invariant behind every plan: the splits of
// a file are contiguous, non-empty and cover it exactly.
func TestPlanSplitsCovers(t *testing.T) {
	for _, sizes := range [][]int64{{1}, {7, 0, 13}, {100, 1, 99}, {3 << 20, 5 << 20}} {
		for _, maxSize := range []int64{1, 2, 3, 10, 64, 1 << 20, DefaultSplitSize} {
			if maxSize < 64 && sizes[0] > 1000 {
				continue // millions of splits prove nothing more
			}
			for p := 1; p <= 5; p++ {
				plan := planSplits(sizes, nil, maxSize, p)
				next := make([]int64, len(sizes))
				for _, s := range plan.splits {
					if s.start != next[s.file] || s.end <= s.start {
						t.Fatalf("sizes %v max %d p %d: split %+v does not continue at %d", sizes, maxSize, p, s, next[s.file])
					}
					next[s.file] = s.end
				}
				if !reflect.DeepEqual(next, sizes) {
					t.Fatalf("sizes %v max %d p %d: splits cover %v", sizes, maxSize, p, next)
				}
			}
		}
	}
}
