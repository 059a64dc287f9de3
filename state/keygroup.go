package state

import (
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// MaxMaxParallelism is the largest number of key groups: a key group is
// stored in two bytes of every LSM key, as in Flink.
const MaxMaxParallelism = 1 << 15

// KeyGroupOf is the key group of an encoded key: a stable 64-bit hash of the
// bytes modulo maxParallelism. Every process computes the same group for the
// same key, which is what lets a restarted job find a key's state.
func KeyGroupOf(keyBytes []byte, maxParallelism int) int {
	return int(xxhash.Sum64(keyBytes) % uint64(maxParallelism))
}

// CheckParallelism reports whether a vertex's parallelism and max parallelism
// can be used together. The other key-group functions assume they can.
func CheckParallelism(maxParallelism, parallelism int) error {
	if maxParallelism < 1 || maxParallelism > MaxMaxParallelism {
		return fmt.Errorf("max parallelism %d is outside [1, %d]", maxParallelism, MaxMaxParallelism)
	}
	if parallelism < 1 || parallelism > maxParallelism {
		return fmt.Errorf("parallelism %d is outside [1, max parallelism %d]; raise the max parallelism or lower the parallelism", parallelism, maxParallelism)
	}
	return nil
}

// RangeForSubtask is the range of key groups subtask owns when maxParallelism
// key groups are spread over parallelism subtasks (Flink's formula, so ranges
// differ in size by at most one). It panics on arguments CheckParallelism
// rejects or a subtask outside [0, parallelism).
func RangeForSubtask(maxParallelism, parallelism, subtask int) KeyGroupRange {
	mustParallelism(maxParallelism, parallelism)
	if subtask < 0 || subtask >= parallelism {
		panic(fmt.Sprintf("state: subtask %d outside [0, %d)", subtask, parallelism))
	}
	start := (subtask*maxParallelism + parallelism - 1) / parallelism
	end := ((subtask+1)*maxParallelism-1)/parallelism + 1
	return KeyGroupRange{Start: start, End: end}
}

// SubtaskForKeyGroup is the subtask that owns key group kg; it agrees with
// RangeForSubtask. It panics on arguments CheckParallelism rejects or a key
// group outside [0, maxParallelism).
func SubtaskForKeyGroup(maxParallelism, parallelism, kg int) int {
	mustParallelism(maxParallelism, parallelism)
	if kg < 0 || kg >= maxParallelism {
		panic(fmt.Sprintf("state: key group %d outside [0, %d)", kg, maxParallelism))
	}
	return kg * parallelism / maxParallelism
}

func mustParallelism(maxParallelism, parallelism int) {
	if err := CheckParallelism(maxParallelism, parallelism); err != nil {
		panic("state: " + err.Error())
	}
}

// DefaultMaxParallelism is the max parallelism for a vertex whose user did
// not set one (Flink's rule): parallelism * 1.5 rounded up to a power of two,
// within [128, 32768], leaving room to scale out later.
func DefaultMaxParallelism(parallelism int) int {
	n := parallelism + parallelism/2
	p := 1
	if n > 1 {
		p = 1 << bits.Len(uint(n-1))
	}
	return min(max(p, 128), MaxMaxParallelism)
}
