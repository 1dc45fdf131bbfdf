package benchkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/logagent/logagent/internal/proc"
)

// Workspace is a bench's temporary directory, which holds the commands it
// builds from the module (in Bin), its children's logs and their data.
type Workspace struct {
	Root string // the main module's directory (where go.mod is)
	Self string // this binary, for the -child modes
	Dir  string // the temporary directory
	Bin  string // Dir/bin: the commands Build built

	prog         Prog
	devstack     *proc.Devstack // stopped by Close
	devstackSpec Devstack       // how it was started, for a restart
}

// NewWorkspace finds the module and creates the temporary directory (named
// after the program). The bench must run inside the logagent module.
func (p Prog) NewWorkspace(ctx context.Context) (*Workspace, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", string(p)+"-")
	if err != nil {
		return nil, err
	}
	return &Workspace{Root: root, Self: self, Dir: dir, Bin: filepath.Join(dir, "bin"), prog: p}, nil
}

// moduleRoot is the main module's directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the logagent module (run from its directory)")
	}
	return filepath.Dir(gomod), nil
}

// Build builds the module's packages (such as "./cmd/devstack") into Bin,
// within 10 minutes, and says how long it took.
func (w *Workspace) Build(ctx context.Context, pkgs ...string) (time.Duration, error) {
	t := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	args := append([]string{"build", "-o", w.Bin + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = w.Root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return time.Since(t), nil
}

// BuildAt builds pkg as it was at the git revision rev into Bin/name, from
// a copy of that revision's tree (git archive) in Dir: the "before" of a
// before-and-after comparison, built with the same toolchain in the same run.
func (w *Workspace) BuildAt(ctx context.Context, rev, pkg, name string) error {
	src := filepath.Join(w.Dir, "src-"+name)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", rev, src)
	archive.Dir = w.Root
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", rev, err, out)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(w.Bin, name), pkg)
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s at %s: %w\n%s", pkg, rev, err, out)
	}
	return nil
}

// StartDevstack starts the devstack that Build built (from ./cmd/devstack)
// as d says; Close stops it.
func (w *Workspace) StartDevstack(ctx context.Context, d Devstack) (*proc.Devstack, error) {
	stack, ports, err := StartDevstack(ctx, filepath.Join(w.Bin, "devstack"), w.Dir, d)
	if err != nil {
		return nil, err
	}
	w.devstack, w.devstackSpec = stack, d
	w.devstackSpec.Ports = ports
	return stack, nil
}

// StopDevstack stops the devstack gracefully (an outage of etcd and Kafka
// alike); RestartDevstack starts it again on the same ports and data.
func (w *Workspace) StopDevstack() error {
	err := w.devstack.Process.Stop(syscall.SIGTERM, 20*time.Second)
	w.devstack = nil
	return err
}

// RestartDevstack starts the devstack StopDevstack stopped, as it was.
func (w *Workspace) RestartDevstack(ctx context.Context) (*proc.Devstack, error) {
	return w.StartDevstack(ctx, w.devstackSpec)
}

// Close stops the devstack gracefully, kills every child still running
// (KillAll) and removes the directory, unless keep: then it says where it is.
func (w *Workspace) Close(keep bool) {
	if w.devstack != nil {
		if err := w.devstack.Process.Stop(syscall.SIGTERM, 20*time.Second); err != nil {
			w.prog.Logf("devstack stop: %v", err)
		}
	}
	proc.KillAll()
	if keep {
		w.prog.Logf("kept %s", w.Dir)
	} else {
		os.RemoveAll(w.Dir)
	}
}
