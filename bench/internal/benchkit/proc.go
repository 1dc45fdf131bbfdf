package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process a bench started. Every Proc is registered so that
// a failing or interrupted bench kills what it started (KillAll, by process
// group id: each child leads its own group). Pdeathsig covers a bench killed
// outright.
type Proc struct {
	Name    string
	LogPath string         // its stderr (and stdout unless redirected)
	Started time.Time      // just after exec
	Stdin   io.WriteCloser // nil unless Options.Stdin; closing it is EOF
	Lines   <-chan string  // stdout line by line if Options.Lines; closed at EOF

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been reaped
	waitErr error
}

// Options are Start's optional parts; the zero value inherits the bench's
// environment and directory and sends stdout to the log.
type Options struct {
	Env        []string  // added to the bench's environment
	ReplaceEnv []string  // the whole environment instead of it (nil: inherit)
	Dir        string    // working directory ("": the bench's)
	Stdin      bool      // keep a pipe to the child's stdin in Proc.Stdin
	Lines      bool      // deliver stdout on Proc.Lines instead of the log
	Stdout     io.Writer // stdout goes here instead of the log (unless Lines)
}

var (
	procsMu sync.Mutex
	procs   []*Proc
)

// Start starts bin with args as a Proc; stderr (and stdout unless o says
// otherwise) goes to the log file it creates at logPath.
func Start(name, logPath string, o Options, bin string, args ...string) (*Proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
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
		return nil, fmt.Errorf("start %s: %w", name, err)
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
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit error once it exited (nil for status 0, and
// while it runs).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// Pid is the process's id (and its process group's).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends sig (0: none, just wait), waits up to grace, then kills the
// process group. It returns the process's exit error (nil for status 0).
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Exited() {
		if sig != 0 {
			_ = p.cmd.Process.Signal(sig)
		}
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
			<-p.done
			return fmt.Errorf("%s did not exit within %v of %v; killed", p.Name, grace, sig)
		}
	}
	return p.waitErr
}

// KillAll kills every child still running (its whole process group); a bench
// calls it on the way out.
func KillAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		if !p.Exited() {
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// TailFile returns the last n bytes of a log, for error messages ("" if it
// cannot be read).
func TailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-n)
	b := make([]byte, fi.Size()-off)
	_, _ = f.ReadAt(b, off)
	return string(b)
}
