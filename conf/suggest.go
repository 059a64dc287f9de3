package conf

import "strings"

// suggest returns the declared key the user most likely meant by key, or "".
// A key that matches a declared key up to a dot boundary ("parallelism" for
// "parallelism.default", "checkpointing.interval" for
// "execution.checkpointing.interval") wins; otherwise the key with the
// smallest edit distance, if the distance is small for the key's length.
func suggest(key string) string {
	registry.RLock()
	defer registry.RUnlock()
	lower := strings.ToLower(key)
	best, bestDist := "", 0
	for k := range registry.byKey {
		if lower == strings.ToLower(k) {
			return k // differs only in case
		}
	}
	for k := range registry.byKey {
		if strings.HasPrefix(k, lower+".") || strings.HasSuffix(k, "."+lower) {
			if best == "" || len(k) < len(best) || (len(k) == len(best) && k < best) {
				best = k
			}
		}
	}
	if best != "" {
		return best
	}
	limit := max(2, len(key)/3)
	for k := range registry.byKey {
		d := editDistance(lower, k)
		if d > limit {
			continue
		}
		if best == "" || d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
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
