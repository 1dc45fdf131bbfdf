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

	prog     Prog
	devstack *proc.Devstack // stopped by Close
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

// StartDevstack starts the devstack that Build built (from ./cmd/devstack),
// its data and log in the directory; Close stops it.
func (w *Workspace) StartDevstack(ctx context.Context, topics []string, partitions int) (*proc.Devstack, error) {
	d, err := StartDevstack(ctx, filepath.Join(w.Bin, "devstack"), w.Dir, topics, partitions)
	if err != nil {
		return nil, err
	}
	w.devstack = d
	return d, nil
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
