package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestEveryMutationStillApplies: a mutation whose piece of code has moved
// or changed would be reported stale by make mutants, long after the change
// that moved it. Each piece must occur exactly once in its file.
func TestEveryMutationStillApplies(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range mutations {
		if seen[m.name] {
			t.Errorf("two mutations named %s", m.name)
		}
		seen[m.name] = true
		src, err := os.ReadFile(filepath.Join("..", "..", m.file))
		if err != nil {
			t.Errorf("%s: %v", m.name, err)
			continue
		}
		if n := bytes.Count(src, []byte(m.old)); n != 1 {
			t.Errorf("%s: the piece to replace occurs %d times in %s", m.name, n, m.file)
		}
	}
}
