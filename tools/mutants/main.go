// Command mutants breaks the product on purpose, one targeted mutation at a
// time, and reports which ones the tests catch: a guarantee whose mutation
// survives is a guarantee no test checks. It is run by hand (make mutants),
// not in CI: a full run takes a quarter of an hour.
//
// Each mutation (mutations.go) replaces one exact piece of a file, which
// must occur exactly once, in a scratch copy of the working tree (tracked
// and untracked files, uncommitted changes included), runs the tests that
// guard it, and puts the file back. A mutant is killed when those tests
// fail, survives when they pass, and is stale when its piece is no longer
// in the file or the mutated code does not build.
//
//	go run ./tools/mutants                   # all
//	go run ./tools/mutants -run 'ack|commit' # those whose name matches
//	go run ./tools/mutants -list
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// verdict is what a mutant's tests said.
type verdict string

const (
	killed   verdict = "killed"
	survived verdict = "survived"
	stale    verdict = "stale"
)

type result struct {
	m       mutation
	verdict verdict
	took    time.Duration
	detail  string // the first failing test, or why the mutant is stale
}

func main() {
	only := flag.String("run", "", "run only the mutations whose name matches this regexp")
	list := flag.Bool("list", false, "list the mutations and exit")
	timeout := flag.Duration("timeout", 3*time.Minute, "limit for one mutant's tests")
	keep := flag.Bool("keep", false, "keep the scratch copy")
	flag.Parse()
	if err := run(*only, *list, *timeout, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

func run(only string, list bool, timeout time.Duration, keep bool) error {
	re, err := regexp.Compile(only)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	var selected []mutation
	for _, m := range mutations {
		if re.MatchString(m.name) {
			selected = append(selected, m)
		}
	}
	if list {
		for _, m := range selected {
			fmt.Printf("%-34s %s\n", m.name, m.guarantee)
		}
		return nil
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	scratch, err := copyTree(root)
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("scratch copy:", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	env := testEnv(root)
	var results []result
	for i, m := range selected {
		fmt.Printf("[%d/%d] %s: ", i+1, len(selected), m.name)
		r := try(scratch, env, m, timeout)
		fmt.Printf("%s in %s %s\n", r.verdict, r.took.Round(time.Second), r.detail)
		results = append(results, r)
	}
	report(os.Stdout, results)
	return nil
}

// try applies m in the scratch copy, runs its tests and restores the file.
func try(scratch string, env []string, m mutation, timeout time.Duration) result {
	start := time.Now()
	path := filepath.Join(scratch, m.file)
	orig, err := os.ReadFile(path)
	if err != nil {
		return result{m: m, verdict: stale, detail: err.Error()}
	}
	if n := bytes.Count(orig, []byte(m.old)); n != 1 {
		return result{m: m, verdict: stale, detail: fmt.Sprintf("the piece to replace occurs %d times in %s", n, m.file)}
	}
	mutated := bytes.Replace(orig, []byte(m.old), []byte(m.new), 1)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return result{m: m, verdict: stale, detail: err.Error()}
	}
	defer func() { _ = os.WriteFile(path, orig, 0o644) }()

	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute) // go test's own -timeout first
	defer cancel()
	// -failfast: the first failure decides; a mutant that makes a later
	// test retry forever then costs nothing.
	args := []string{"test", "-count=1", "-failfast", "-timeout", timeout.String(), "-run", m.tests}
	if m.e2e {
		args = append(args, "-tags", "e2e")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, m.pkg)...)
	cmd.Dir, cmd.Env = scratch, env
	out, err := cmd.CombinedOutput()
	r := result{m: m, took: time.Since(start)}
	switch {
	case err == nil:
		r.verdict = survived
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		r.verdict, r.detail = stale, "does not build: "+firstLine(out, "")
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || bytes.Contains(out, []byte("panic: test timed out")):
		r.verdict, r.detail = killed, fmt.Sprintf("(tests still running after %v)", timeout)
	default:
		r.verdict, r.detail = killed, firstLine(out, "--- FAIL")
	}
	return r
}

// firstLine returns the first line of out starting with prefix (after
// spaces), or its first line.
func firstLine(out []byte, prefix string) string {
	for _, l := range strings.Split(string(out), "\n") {
		if t := strings.TrimSpace(l); t != "" && strings.HasPrefix(t, prefix) {
			return t
		}
	}
	return ""
}

func report(w io.Writer, results []result) {
	count := map[verdict]int{}
	fmt.Fprintln(w, "\nmutant                             verdict   guarantee")
	for _, r := range results {
		count[r.verdict]++
		fmt.Fprintf(w, "%-34s %-9s %s\n", r.m.name, r.verdict, r.m.guarantee)
	}
	judged := count[killed] + count[survived]
	ratio := 0.0
	if judged > 0 {
		ratio = float64(count[killed]) / float64(judged)
	}
	fmt.Fprintf(w, "\nkilled %d, survived %d, stale %d: kill ratio %.0f%% (%d/%d)\n",
		count[killed], count[survived], count[stale], 100*ratio, count[killed], judged)
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTree copies the files git knows or would add (tracked, and untracked
// but not ignored) to a new temporary directory.
func copyTree(root string) (string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("list files: %w", err)
	}
	dst, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		return "", err
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if err := copyFile(filepath.Join(root, rel), filepath.Join(dst, rel)); err != nil {
			os.RemoveAll(dst)
			return "", err
		}
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil // deleted in the work tree, not yet in git
	}
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, fi.Mode().Perm())
}

// testEnv is the environment of the tests: the caller's, with the
// ZincSearch stand-in of the real tree (the copy has no .cache) unless one
// is named already, and no VCS stamping (the copy has no .git).
func testEnv(root string) []string {
	env := append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if os.Getenv("LOGAGENT_ZINC_BIN") == "" {
		env = append(env, "LOGAGENT_ZINC_BIN="+filepath.Join(root, ".cache", "bin", "zincsearch-es"))
	}
	return env
}
