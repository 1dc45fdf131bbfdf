package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/logagent/logagent/internal/zincenv"
)

const modulePath = "github.com/logagent/logagent"

// layout is where the demo keeps its files.
type layout struct {
	root         string // the repo root; "" when logdemo runs outside the repo
	data         string
	devstackDir  string
	devstackLog  string
	stateDir     string
	logsDir      string
	accessLog    string
	appLog       string
	agentYAML    string
	agentLog     string
	zincDir      string // ZINC_DATA_PATH, and zincsearch-es's working directory
	zincLog      string
	transferYAML string
	transferLog  string
}

func newLayout(dataFlag string) (layout, error) {
	root := findRepoRoot()
	data := dataFlag
	if !filepath.IsAbs(data) {
		base := root
		if base == "" {
			// Outside the repo (a copied binary): the cwd is the only sane base.
			wd, err := os.Getwd()
			if err != nil {
				return layout{}, fmt.Errorf("resolve -data %q: %w", dataFlag, err)
			}
			base = wd
		}
		data = filepath.Join(base, data)
	}
	l := layout{
		root:         root,
		data:         data,
		devstackDir:  filepath.Join(data, "devstack"),
		devstackLog:  filepath.Join(data, "devstack.log"),
		stateDir:     filepath.Join(data, "agent-state"),
		logsDir:      filepath.Join(data, "logs"),
		agentYAML:    filepath.Join(data, "agent.yaml"),
		agentLog:     filepath.Join(data, "logagent.log"),
		zincDir:      filepath.Join(data, "zinc"),
		zincLog:      filepath.Join(data, "zinc.log"),
		transferYAML: filepath.Join(data, "transfer.yaml"),
		transferLog:  filepath.Join(data, "logtransfer.log"),
	}
	l.accessLog = filepath.Join(l.logsDir, "access.log")
	l.appLog = filepath.Join(l.logsDir, "app.log")
	return l, nil
}

// findRepoRoot walks up from the cwd to the go.mod of the logagent module.
// `make demo` and `go run ./cmd/logdemo` both run in the repo, and so does
// `go test` (in cmd/logdemo).
func findRepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isOurModule(b) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isOurModule(gomod []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == modulePath
		}
	}
	return false
}

// display shortens p to a path relative to the cwd when it is below it, so
// the banner shows .demo/agent.yaml rather than a long absolute path.
func display(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(wd, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return rel
}

// bins are the programs the demo runs.
type bins struct {
	agent, devstack, transfer, ctl string // built from this repo (cmd/...)
	zinc                           string // zincsearch-es, built by scripts/build-zinc.sh
}

// binaries returns the paths of the demo's programs. Without -bin, logagent,
// logtransfer, logctl and devstack are <repo>/bin/*, which `make demo` has just
// built; a plain `go run` builds them when missing. Without -zinc-bin,
// zincsearch-es is <repo>/.cache/bin/zincsearch-es, which `make demo` builds
// with scripts/build-zinc.sh; a plain `go run` runs that script when the
// binary is missing.
func binaries(ctx context.Context, l layout, binFlag, zincFlag string) (bins, error) {
	var b bins
	dir := binFlag
	if dir == "" {
		if l.root == "" {
			return b, errors.New("not inside the logagent repo: run from its directory, or pass -bin with logagent, logtransfer, logctl and devstack, and -zinc-bin")
		}
		dir = filepath.Join(l.root, "bin")
	}
	b.agent, b.devstack, b.transfer, b.ctl = filepath.Join(dir, "logagent"), filepath.Join(dir, "devstack"), filepath.Join(dir, "logtransfer"), filepath.Join(dir, "logctl")
	built := func() bool { return isFile(b.agent) && isFile(b.devstack) && isFile(b.transfer) && isFile(b.ctl) }
	if !built() {
		if binFlag != "" {
			return b, fmt.Errorf("-bin %s: want logagent, logtransfer, logctl and devstack in it", binFlag)
		}
		fmt.Printf("bin/logagent, bin/logtransfer, bin/logctl or bin/devstack is missing; building: go build -o bin/ ./cmd/...\n")
		// -buildvcs=false for the Makefile's reason: checkouts without .git, or
		// owned by another user, make VCS stamping fail.
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", "bin"+string(filepath.Separator), "./cmd/...")
		cmd.Dir = l.root
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build -o bin/ ./cmd/... in %s: %w", l.root, err)
		}
		if !built() {
			return b, fmt.Errorf("go build did not produce %s, %s, %s and %s", b.agent, b.transfer, b.ctl, b.devstack)
		}
	}

	if zincFlag != "" {
		if !isFile(zincFlag) {
			return b, fmt.Errorf("-zinc-bin %s: no such file; build it with scripts/build-zinc.sh (or make deps)", zincFlag)
		}
		b.zinc = zincFlag
		return b, nil
	}
	if l.root == "" {
		return b, errors.New("not inside the logagent repo: pass -zinc-bin with the zincsearch-es binary that scripts/build-zinc.sh builds")
	}
	b.zinc = filepath.Join(l.root, zincenv.RelPath)
	if isFile(b.zinc) {
		return b, nil
	}
	fmt.Printf("%s is missing; building it: ./scripts/build-zinc.sh (the first build downloads ~260 MB of Go modules and takes 2-3 minutes)\n", zincenv.RelPath)
	cmd := exec.CommandContext(ctx, filepath.Join(l.root, "scripts", "build-zinc.sh"))
	cmd.Dir = l.root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return b, fmt.Errorf("scripts/build-zinc.sh in %s: %w", l.root, err)
	}
	if !isFile(b.zinc) {
		return b, fmt.Errorf("scripts/build-zinc.sh did not produce %s", b.zinc)
	}
	return b, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// resetData removes what an earlier run left, so counts start at zero: only
// the demo's own paths, never the whole -data directory (it may be a
// directory the user pointed at by mistake).
func resetData(l layout) error {
	for _, p := range []string{l.devstackDir, l.stateDir, l.logsDir, l.agentYAML, l.agentLog, l.devstackLog,
		l.zincDir, l.zincLog, l.transferYAML, l.transferLog} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove %s left by an earlier run: %w", p, err)
		}
	}
	for _, d := range []string{l.data, l.logsDir, l.zincDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	return nil
}
