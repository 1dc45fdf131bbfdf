// Package proc runs the helper processes of make demo (cmd/logdemo) and the
// benchmarks (bench/...): devstack, ZincSearch, the daemons under
// measurement. Each child leads its own process group with its output in a
// log file, dies with its parent where the OS allows, and can be stopped
// with a grace period, killed, and measured (CPU, peak RSS).
package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a started child. Every Process is registered so that a failing
// or interrupted parent kills what it started (KillAll, by process group id:
// each child leads its own group, so a terminal's Ctrl-C reaches only the
// parent, which then stops its children in the order it needs). Pdeathsig
// covers a parent killed outright, on Linux.
type Process struct {
	Name    string
	LogPath string         // its stderr (and stdout unless redirected)
	Started time.Time      // just after exec
	Stdin   io.WriteCloser // nil unless Options.Stdin; closing it is EOF, which the reap does at the latest
	Lines   <-chan string  // stdout line by line if Options.Lines; closed at EOF; must be read to the end, or the child is never reaped

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been reaped
	waitErr error
}

// Options are Start's optional parts; the zero value inherits the parent's
// environment and directory and sends stdout to the log.
type Options struct {
	Env        []string // added to the parent's environment
	ReplaceEnv []string // the whole environment instead of it (nil: inherit)
	Dir        string   // working directory ("": the parent's)
	// Stdin keeps a pipe to the child's stdin in Process.Stdin. A child that
	// stops at end of input (zincsearch-es with ZINC_STOP_ON_STDIN_EOF) then
	// also stops when the parent dies, even where there is no Pdeathsig.
	Stdin  bool
	Lines  bool      // deliver stdout on Process.Lines instead of the log
	Stdout io.Writer // stdout goes here instead of the log (unless Lines)
}

var (
	procsMu sync.Mutex
	procs   []*Process
)

// Start starts bin with args; stderr (and stdout unless o says otherwise)
// goes to the log file it creates at logPath.
func Start(name, logPath string, o Options, bin string, args ...string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = o.Dir
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	switch {
	case o.ReplaceEnv != nil:
		cmd.Env = o.ReplaceEnv
	case o.Env != nil:
		cmd.Env = append(os.Environ(), o.Env...)
	}
	cmd.SysProcAttr = sysProcAttr()
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	if o.Stdin {
		if p.Stdin, err = cmd.StdinPipe(); err != nil {
			logFile.Close()
			return nil, err
		}
	}
	var stdout io.ReadCloser
	var lines chan string
	if o.Lines {
		cmd.Stdout = nil
		if stdout, err = cmd.StdoutPipe(); err != nil {
			logFile.Close()
			return nil, err
		}
		lines = make(chan string, 16)
		p.Lines = lines
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p.Started = time.Now()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	readDone := make(chan struct{})
	if stdout != nil {
		go func() {
			defer close(readDone)
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
	} else {
		close(readDone)
	}
	go func() {
		<-readDone // Wait closes the pipe: read it to the end first
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited and been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit error once it exited (nil for status 0, and
// while it runs).
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// Pid is the process's id (and its process group's).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Path is the program's path as started.
func (p *Process) Path() string { return p.cmd.Path }

// Stop sends sig (0: none, just wait), waits up to grace, then kills the
// process group. It returns nil only for exit status 0.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Exited() {
		if sig != 0 {
			_ = p.cmd.Process.Signal(sig)
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			p.Kill()
			if sig == 0 {
				return fmt.Errorf("%s did not exit within %v; killed it", p.Name, grace)
			}
			return fmt.Errorf("%s did not exit within %v of %s; killed it", p.Name, grace, signalName(sig))
		}
	}
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w", p.Name, p.waitErr)
	}
	return nil
}

// signalName is the name people know a signal by.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return sig.String()
}

// Kill SIGKILLs the process group and waits (at most 5 s) for the reap.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Died describes an exit nobody asked for, with the end of the child's log.
func (p *Process) Died() error {
	return fmt.Errorf("%s exited unexpectedly (%v); the end of %s:\n%s",
		p.Name, p.cmd.ProcessState, p.LogPath, Tail(p.LogPath, 3000))
}

// KillAll kills every child still running (its whole process group); a
// parent calls it on the way out.
func KillAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

// Tail returns about the last n bytes of a log, from a line start, for error
// messages (the error in parentheses if it cannot be read).
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "(" + err.Error() + ")"
	}
	off := max(0, fi.Size()-n)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return "(" + err.Error() + ")"
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
