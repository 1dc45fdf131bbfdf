package conf

import (
	"path/filepath"
	"testing"
)

func TestValidateGlobAgreesWithFilepathMatch(t *testing.T) {
	// Patterns ValidateGlob accepts must never make filepath.Match fail, and
	// the ones it rejects must be ones filepath.Match rejects on some name.
	valid := []string{"/a", "/a/*", "/a/*.log", "/a/[abc]", "/a/[^a-c]x", `/a/\[`, "/a/?", "/*/*/x", "/a/[*]*", `/a/[\]]`}
	invalid := []string{"/a/[", "/a/[]", "/a/[a-]", `/a/\`, "/*/x[", "/*/[-a]", "/a*/b*/[z"}
	names := []string{"", "/a", "/a/b", "/a/x.log", "/ab/bc/zz", "/a/[", "/a/]"}
	for _, p := range valid {
		if err := ValidateGlob(p); err != nil {
			t.Errorf("ValidateGlob(%q) = %v, want nil", p, err)
		}
		for _, n := range names {
			if _, err := filepath.Match(p, n); err != nil {
				t.Errorf("filepath.Match(%q, %q) = %v though ValidateGlob accepted it", p, n, err)
			}
		}
	}
	for _, p := range invalid {
		if err := ValidateGlob(p); err == nil {
			t.Errorf("ValidateGlob(%q) = nil, want an error", p)
		}
	}
}
