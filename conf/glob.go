package conf

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
)

// ValidateGlob reports a malformed glob: a filepath.Match pattern in which
// "**", as a whole path element, stands for any number of directories. The
// collect config and files.allowed_paths use it. filepath.Match only
// validates the chunks it gets to before the match fails, so each element is
// split at its stars the way filepath.Match does and each chunk is checked.
func ValidateGlob(pattern string) error {
	for _, elem := range strings.Split(pattern, "/") {
		if elem == "**" {
			continue
		}
		if strings.Contains(elem, "**") {
			return fmt.Errorf("%q: \"**\" must be a whole path element (\"/var/log/**/*.log\"); within an element \"*\" already matches any run of characters", pattern)
		}
		rest := elem
		for rest != "" {
			var chunk string
			chunk, rest = nextGlobChunk(rest)
			if _, err := filepath.Match(chunk, ""); err != nil {
				return fmt.Errorf("%q is not a valid glob: %w", pattern, err)
			}
		}
	}
	return nil
}

// MatchGlob reports whether path matches pattern: filepath.Match element by
// element, where a "**" element matches any number of directories (none
// included) and a final "/**" every file below. The pattern is valid
// (ValidateGlob).
func MatchGlob(pattern, path string) bool {
	if !strings.Contains(pattern, "**") {
		ok, _ := filepath.Match(pattern, path)
		return ok
	}
	return matchElems(strings.Split(pattern, "/"), strings.Split(path, "/"))
}

func matchElems(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return len(name) > 0
			}
			for i := range len(name) {
				if matchElems(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := filepath.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// ExpandGlob lists the files matching pattern, sorted, like filepath.Glob;
// a pattern with "**" walks the tree below its last directory without glob
// characters. Unreadable directories are skipped.
func ExpandGlob(pattern string) ([]string, error) {
	if !strings.Contains(pattern, "**") {
		return filepath.Glob(pattern)
	}
	root := staticDir(pattern)
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil && d != nil && d.IsDir() && path != root:
			return fs.SkipDir
		case err != nil:
			return nil
		case !d.IsDir() && MatchGlob(pattern, path):
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

// staticDir is the longest leading directory of pattern without glob
// characters.
func staticDir(pattern string) string {
	elems := strings.Split(pattern, "/")
	n := 0
	for n < len(elems)-1 && !strings.ContainsAny(elems[n], `*?[\`) {
		n++
	}
	dir := strings.Join(elems[:n], "/")
	if dir == "" {
		return "/"
	}
	return dir
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
