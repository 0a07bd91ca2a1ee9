package config

import "strings"

// suggest returns the known key closest to key when one is near enough
// to be a likely typo or a shortened name, else "". Case and hyphens
// versus underscores do not count.
func suggest(key string, known []string) string {
	k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	best, bestDist := "", -1
	for _, c := range known {
		dist := editDistance(k, c)
		near := dist <= max(1, min(3, len(c)/3)) && dist < min(len(k), len(c))
		if !near && min(len(k), len(c)) >= 2 {
			near = strings.HasPrefix(c, k) || strings.HasPrefix(k, c)
		}
		if near && (bestDist < 0 || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes.
func editDistance(a, b string) int {
	// Three rows: two back, previous and current.
	prev2 := make([]int, len(b)+1)
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
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
