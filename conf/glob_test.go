package conf

import (
	"os"
	"path/filepath"
	"slices"
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

func TestMatchGlobRecursive(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"/var/log/**/*.log", "/var/log/a.log", true}, // "**" may be no directory at all
		{"/var/log/**/*.log", "/var/log/app/a.log", true},
		{"/var/log/**/*.log", "/var/log/app/2026/12/a.log", true},
		{"/var/log/**/*.log", "/var/log/app/a.log.1", false},
		{"/var/log/**/*.log", "/var/lib/a.log", false},
		{"/srv/**/logs/*.log", "/srv/a/b/logs/x.log", true},
		{"/srv/**/logs/*.log", "/srv/logs/x.log", true},
		{"/srv/**/logs/*.log", "/srv/a/logs/b/x.log", false},
		{"/srv/**", "/srv/a/b", true},
		{"/srv/**", "/srv", false},
		{"/var/log/*.log", "/var/log/a.log", true},
		{"/var/log/*.log", "/var/log/x/a.log", false},
	} {
		if got := MatchGlob(c.pattern, c.path); got != c.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestExpandGlobWalksBelowTheStaticPart(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.log", "x/b.log", "x/y/c.log", "x/y/c.txt", "z/d.log"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ExpandGlob(filepath.Join(dir, "**", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range got {
		r, _ := filepath.Rel(dir, p)
		rel = append(rel, r)
	}
	if want := []string{"a.log", "x/b.log", "x/y/c.log", "z/d.log"}; !slices.Equal(rel, want) {
		t.Fatalf("ExpandGlob = %v, want %v", rel, want)
	}
	if got, err := ExpandGlob(filepath.Join(dir, "missing", "**", "*.log")); err != nil || len(got) != 0 {
		t.Fatalf("below a missing directory: %v, %v", got, err)
	}
}
