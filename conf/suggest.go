package conf

import (
	"sort"
	"strings"
)

// suggest returns the declared key the user most likely meant by key, or "".
// A key that matches a declared key up to a dot boundary ("parallelism" for
// "parallelism.default", "checkpointing.interval" for
// "execution.checkpointing.interval") wins; otherwise the closest key by
// Closest.
func suggest(key string) string {
	registry.RLock()
	keys := make([]string, 0, len(registry.byKey))
	for k := range registry.byKey {
		keys = append(keys, k)
	}
	registry.RUnlock()
	lower := strings.ToLower(key)
	for _, k := range keys {
		if lower == strings.ToLower(k) {
			return k // differs only in case
		}
	}
	best := ""
	for _, k := range keys {
		if strings.HasPrefix(k, lower+".") || strings.HasSuffix(k, "."+lower) {
			if best == "" || len(k) < len(best) || (len(k) == len(best) && k < best) {
				best = k
			}
		}
	}
	if best != "" {
		return best
	}
	return Closest(key, keys)
}

// Closest returns the candidate a user most likely meant by word, a
// mistyped name ("wordcont" for "wordcount", "state.backnd" for
// "state.backend"), or "" when none is close: a candidate that differs only
// in case, or else the one with the smallest edit distance if that is small
// for word's length (at most a third of it, and at least 2). Ties go to the
// candidate that sorts first, so the answer does not depend on the order of
// candidates. It is the one suggestion rule of loom's command line and
// configuration.
func Closest(word string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	lower := strings.ToLower(word)
	for _, c := range sorted {
		if lower == strings.ToLower(c) {
			return c
		}
	}
	best, bestDist := "", 0
	limit := max(2, len(word)/3)
	for _, c := range sorted {
		d := editDistance(lower, strings.ToLower(c))
		if d > limit {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
