package ctl

import "strings"

// diffContext is how many unchanged lines are shown around a change.
const diffContext = 3

// lineDiff returns a unified-style diff of a and b ("-", "+", " " prefixes,
// "@@" between distant hunks), or "" when they are equal. Configs are small,
// so the quadratic longest-common-subsequence table is fine.
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	// lcs[i][j] is the LCS length of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			lines = append(lines, line{' ', x[i]})
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', x[i]}) // removals before additions, as diff(1) shows them
			i++
		default:
			lines = append(lines, line{'+', y[j]})
			j++
		}
	}
	// Keep changed lines and diffContext unchanged ones around them.
	keep := make([]bool, len(lines))
	for k, l := range lines {
		if l.op != ' ' {
			for c := max(0, k-diffContext); c <= min(len(lines)-1, k+diffContext); c++ {
				keep[c] = true
			}
		}
	}
	var sb strings.Builder
	for k, l := range lines {
		if !keep[k] {
			continue
		}
		if k > 0 && !keep[k-1] {
			sb.WriteString("@@\n")
		}
		sb.WriteByte(l.op)
		sb.WriteString(l.text)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
