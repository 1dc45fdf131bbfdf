package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	builtBin = map[string]string{}
	binDir   string // holds what Build built; Main removes it
)

// Main runs a package's tests and then removes the daemons Build compiled
// for them (tens of MiB each). A package that calls Build calls it from
// TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Build compiles a main package of this module (e.g. "./cmd/logagent")
// once per test binary and returns the executable's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builtBin[pkg]; ok {
		return bin
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "testenv-bin-"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: build %s: %v\n%s", pkg, err, out)
	}
	builtBin[pkg] = bin
	return bin
}

// Process is a daemon under test running as a child process, its output in
// a log file.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{} // closed when the process exited; then err is set
	err     error
}

// StartProcess runs bin with args, logging to logPath; t.Cleanup kills it.
func StartProcess(t testing.TB, logPath, bin string, args ...string) *Process {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.exited })
	return p
}

// Kill9 sends SIGKILL and waits for the exit.
func (p *Process) Kill9(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// Terminate sends SIGTERM and returns the exit error (nil for exit 0), failing
// the test if the process has not exited within timeout.
func (p *Process) Terminate(t testing.TB, timeout time.Duration) error {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		log, _ := os.ReadFile(p.LogPath)
		t.Fatalf("testenv: %s did not exit within %v of SIGTERM; log:\n%s", p.Cmd.Path, timeout, log)
		return nil
	}
}

// Run runs bin with args to its end and returns its output (stdout and
// stderr together) and exit status; a binary that cannot be run fails the
// test.
func Run(t testing.TB, bin string, args ...string) (output string, exitCode int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("testenv: run %s: %v", bin, err)
	return "", 0
}

// Reload sends SIGHUP, a daemon's reload request, and fails the test if the
// process has already exited.
func (p *Process) Reload(t testing.TB) {
	t.Helper()
	if !p.Running() {
		t.Fatalf("testenv: %s exited before SIGHUP (%v); log:\n%s", p.Cmd.Path, p.err, p.Log(t))
	}
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Log returns what the process has written to its log so far.
func (p *Process) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// WaitLog waits until the process's log holds text at least n times; the
// process exiting meanwhile fails the test, and a failure shows the log's
// end.
func (p *Process) WaitLog(t testing.TB, text string, n int) {
	t.Helper()
	defer func() {
		if t.Failed() { // also after Eventually's Fatalf
			log := p.Log(t)
			t.Logf("log of %s:\n%s", p.Cmd.Path, log[max(0, len(log)-6000):])
		}
	}()
	Eventually(t, 60*time.Second, func() bool {
		if !p.Running() {
			t.Fatalf("%s exited", p.Cmd.Path)
		}
		return strings.Count(p.Log(t), text) >= n
	}, "%q %d times in the log of %s", text, n, p.Cmd.Path)
}
