package file

import "math"

// split is a byte range [start, end) of input file `file`.
type split struct {
	file       int
	start, end int64
}

// splitPlan is the deterministic cut of a listing into splits for one
// parallelism. size is the split size used; it is kept in reader snapshots to
// detect a restore against a different plan.
type splitPlan struct {
	size   int64
	splits []split
}

// splitSlop lets the last split of a file be up to 10% larger than the split
// size rather than leaving a tiny tail split (as Hadoop does).
const splitSlop = 1.1

// planSplits cuts files of the given sizes into splits of at most maxSize
// bytes (the last of a file up to splitSlop times that). When the input is
// large, the size shrinks to total/parallelism (but not below MinSplitSize)
// so that every subtask gets work. Empty files get no split. A file whose
// whole is set (a compressed one) is one split from its start to the end of
// its data, whatever its length once decompressed.
func planSplits(sizes []int64, whole []bool, maxSize int64, parallelism int) *splitPlan {
	if maxSize <= 0 {
		maxSize = DefaultSplitSize
	}
	var total int64
	for _, s := range sizes {
		total += s
	}
	size := maxSize
	if parallelism > 0 {
		goal := max((total+int64(parallelism)-1)/int64(parallelism), MinSplitSize)
		size = min(size, goal)
	}
	p := &splitPlan{size: size}
	for i, fileSize := range sizes {
		if whole != nil && whole[i] {
			if fileSize > 0 {
				p.splits = append(p.splits, split{file: i, start: 0, end: math.MaxInt64})
			}
			continue
		}
		var off int64
		for float64(fileSize-off)/float64(size) > splitSlop {
			p.splits = append(p.splits, split{file: i, start: off, end: off + size})
			off += size
		}
		if off < fileSize {
			p.splits = append(p.splits, split{file: i, start: off, end: fileSize})
		}
	}
	return p
}

// planWholeFiles makes one split per file, for formats that cannot be cut.
func planWholeFiles(sizes []int64) *splitPlan {
	p := &splitPlan{size: -1}
	for i, s := range sizes {
		p.splits = append(p.splits, split{file: i, start: 0, end: s})
	}
	return p
}
