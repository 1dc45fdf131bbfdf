package conf

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// ValidateGlob reports a malformed filepath.Match pattern, and "**", which
// filepath.Match does not support. The collect config and
// files.allowed_paths use it. filepath.Match only validates the chunks it
// gets to before the match fails, so the pattern is split at its stars the
// way filepath.Match does and each chunk is checked.
func ValidateGlob(pattern string) error {
	if strings.Contains(pattern, "**") {
		return fmt.Errorf("%q: \"**\" is not supported (filepath.Match has no recursive glob)", pattern)
	}
	rest := pattern
	for rest != "" {
		var chunk string
		chunk, rest = nextGlobChunk(rest)
		if _, err := filepath.Match(chunk, ""); err != nil {
			return fmt.Errorf("%q is not a valid glob: %w", pattern, err)
		}
	}
	return nil
}

// nextGlobChunk strips leading stars and returns the text up to the next star
// that is neither escaped nor inside a character class.
func nextGlobChunk(p string) (chunk, rest string) {
	p = strings.TrimLeft(p, "*")
	inClass := false
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if runtime.GOOS != "windows" && i+1 < len(p) {
				i++
			}
		case '[':
			inClass = true
		case ']':
			inClass = false
		case '*':
			if !inClass {
				return p[:i], p[i:]
			}
		}
	}
	return p, ""
}
