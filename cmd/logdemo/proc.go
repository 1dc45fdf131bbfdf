package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is devstack, zincsearch-es, logtransfer or logagent, running with
// its output in a log file.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process is reaped; err is set then
	err     error
}

// startChild starts bin in its own process group, so the terminal's Ctrl-C
// reaches only logdemo, which then stops the children in order (the agent
// first, while Kafka is still up to take its last acks). On Linux the
// children also get SIGKILL if logdemo dies without cleaning up.
func startChild(name, logPath, bin string, args ...string) (*child, error) {
	return startCmd(name, logPath, exec.Command(bin, args...), false)
}

// startCmd starts a prepared command (its Dir and Env set by the caller) as
// startChild does. With stdinPipe the child's stdin is a pipe that logdemo
// holds open until the child is reaped: a child that stops at end of input
// (zincsearch-es with ZINC_STOP_ON_STDIN_EOF) then also stops when logdemo
// dies, even where there is no Pdeathsig.
func startCmd(name, logPath string, cmd *exec.Cmd, stdinPipe bool) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	var stdinW *os.File
	if stdinPipe {
		r, w, err := os.Pipe()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s stdin: %w", name, err)
		}
		defer r.Close() // the child has its copy once started
		cmd.Stdin, stdinW = r, w
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to grace for a clean exit, then kills the
// whole process group. It returns nil only for a clean exit.
func (c *child) stop(grace time.Duration) error {
	if c.exited() {
		return c.exitErr()
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", c.name, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return c.exitErr()
	case <-t.C:
		c.kill()
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed it", c.name, grace)
	}
}

// kill SIGKILLs the process group and waits (bounded) for the reap.
func (c *child) kill() {
	if c.exited() {
		return
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

func (c *child) exitErr() error {
	if c.err != nil {
		return fmt.Errorf("%s: %w", c.name, c.err)
	}
	return nil
}

// died describes an unexpected exit with the end of the child's log.
func (c *child) died() error {
	return fmt.Errorf("%s exited unexpectedly (%v); the end of %s:\n%s",
		c.name, c.cmd.ProcessState, display(c.logPath), tail(c.logPath, 3000))
}

// tail returns about the last n bytes of a file, from a line start.
func tail(path string, n int64) string {
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
