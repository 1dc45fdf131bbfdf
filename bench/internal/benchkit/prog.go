package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Prog is a bench program's name ("agentbench"): the prefix of what it says
// on stderr (stdout carries only its report) and of its temporary directory.
type Prog string

// Logf prints progress to stderr.
func (p Prog) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, string(p)+": "+format+"\n", args...)
}

// Exit prints the message to stderr and exits with code (2 for bad flags).
func (p Prog) Exit(code int, format string, args ...any) {
	p.Logf(format, args...)
	os.Exit(code)
}

// Main runs the bench with a context that SIGINT and SIGTERM cancel, and
// exits 1 if it fails (its error marked "interrupted" if a signal came).
func (p Prog) Main(run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	if err != nil {
		if interrupted {
			err = fmt.Errorf("interrupted: %w", err)
		}
		p.Exit(1, "%v", err)
	}
}

// Runs parses the -runs flag: known run names, comma-separated, in order.
// An unknown one exits 2.
func (p Prog) Runs(value string, known ...string) []string {
	var runs []string
	for _, r := range strings.Split(value, ",") {
		r = strings.TrimSpace(r)
		switch {
		case r == "":
		case slices.Contains(known, r):
			runs = append(runs, r)
		default:
			p.Exit(2, "-runs: unknown run %q (want %s)", r, strings.Join(known, ", "))
		}
	}
	return runs
}

// List splits a comma-separated flag value such as -agent-env's KEY=VALUE
// pairs (nil for "").
func List(value string) []string {
	if value == "" {
		return nil
	}
	return strings.Split(value, ",")
}

// ProfileDir makes the -profile directory absolute and creates it ("" stays
// ""); it exits 2 if it cannot.
func (p Prog) ProfileDir(dir string) string {
	if dir == "" {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err != nil {
		p.Exit(2, "-profile: %v", err)
	}
	return abs
}

// RunAll does each run in order, each under its own timeout, and collects
// the report rows they return; the first failure ends it ("run NAME: …").
func RunAll[R any](ctx context.Context, p Prog, runs []string, timeout time.Duration, do func(ctx context.Context, run string) ([]R, error)) ([]R, error) {
	var rows []R
	for _, r := range runs {
		p.Logf("run %s", r)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		got, err := do(rctx, r)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", r, err)
		}
		rows = append(rows, got...)
	}
	return rows, nil
}
