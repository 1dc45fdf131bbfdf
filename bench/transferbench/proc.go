package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the bench started. Every proc is registered so
// that a failing or interrupted bench kills what it started (by process
// group id: each child leads its own group). Pdeathsig covers a bench killed
// outright.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has been reaped
	waitErr error
	stdin   io.WriteCloser // nil unless asked for
	lines   chan string    // stdout lines, when asked for; closed at EOF
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

// procOpts are startProc's optional parts.
type procOpts struct {
	env        []string // added to the bench's environment
	replaceEnv []string // the whole environment instead (nil: inherit)
	dir        string
	stdin      bool // keep a pipe to the child's stdin (closing it is EOF)
	lines      bool // deliver stdout line by line on proc.lines instead of the log
}

// startProc starts bin with args; stderr (and stdout unless o.lines) go to
// the log file at logPath.
func startProc(name, logPath string, o procOpts, bin string, args ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = o.dir
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	switch {
	case o.replaceEnv != nil:
		cmd.Env = o.replaceEnv
	case o.env != nil:
		cmd.Env = append(os.Environ(), o.env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	if o.stdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			logFile.Close()
			return nil, err
		}
	}
	var stdout io.ReadCloser
	if o.lines {
		cmd.Stdout = nil
		if stdout, err = cmd.StdoutPipe(); err != nil {
			logFile.Close()
			return nil, err
		}
		p.lines = make(chan string, 16)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.started = time.Now()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	readDone := make(chan struct{})
	if stdout != nil {
		go func() {
			defer close(readDone)
			defer close(p.lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				p.lines <- sc.Text()
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

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig (0: none, just wait), waits up to grace, then kills the
// process group. It returns the process's exit error (nil for status 0).
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if !p.exited() {
		if sig != 0 {
			_ = p.cmd.Process.Signal(sig)
		}
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			return fmt.Errorf("%s did not exit within %v of %v; killed", p.name, grace, sig)
		}
	}
	return p.waitErr
}

// killAll kills every child still running (its whole process group); used
// on the way out.
func killAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// rusage returns the reaped process's resource usage: CPU of all its
// threads and its peak RSS.
func (p *proc) rusage() (cpu time.Duration, maxRSSKiB int64, err error) {
	if !p.exited() {
		return 0, 0, errors.New("still running")
	}
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, 0, errors.New("no rusage")
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss, nil // Linux: ru_maxrss is in KiB
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSoFar reads the running process's user+system time (all threads) from
// /proc/<pid>/stat, with 10 ms resolution.
func (p *proc) cpuSoFar() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * clockTick, nil
}

// peakRSSSoFar is a running process's VmHWM in KiB (0 if unknown).
func (p *proc) peakRSSSoFar() int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// tailFile returns the last n bytes of a log, for error messages.
func tailFile(path string, n int64) string {
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

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when picked; another process could take one before the child binds it
// (then that child fails to start and the bench says so).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// selfCPU is this process's user+system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuSnap is the CPU used so far by the machine and by each process of a
// run, to show what else competed for the CPUs during a measured span.
type cpuSnap struct {
	t                        time.Time
	busy                     time.Duration // all CPUs, non-idle, since boot
	child, zinc, kafka, self time.Duration
}

// machineBusy is the non-idle CPU time of all CPUs since boot (/proc/stat:
// user, nice, system, irq, softirq, steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * clockTick
}

func (e *env) snap(child *proc) cpuSnap {
	s := cpuSnap{t: time.Now(), busy: machineBusy(), self: selfCPU()}
	if child != nil {
		s.child, _ = child.cpuSoFar()
	}
	if e.zinc != nil {
		s.zinc, _ = e.zinc.proc.cpuSoFar()
	}
	if e.devstack != nil {
		s.kafka, _ = e.devstack.cpuSoFar()
	}
	return s
}

// share describes how the CPUs were used between two snapshots, in cores.
func share(name string, a, b cpuSnap) (desc string, others float64) {
	wall := b.t.Sub(a.t).Seconds()
	if wall <= 0 {
		return "", 0
	}
	c := func(d time.Duration) float64 { return d.Seconds() / wall }
	busy, child, z, k, self := c(b.busy-a.busy), c(b.child-a.child), c(b.zinc-a.zinc), c(b.kafka-a.kafka), c(b.self-a.self)
	others = max(0, busy-child-z-k-self)
	return fmt.Sprintf("cores busy during %s (%.1f s to acked): %.2f of %d; %s %.2f, zincsearch %.2f, kfake %.2f, this bench %.2f, other processes %.2f",
		name, wall, busy, numCPU(), name, child, z, k, self, others), others
}

func numCPU() int { return runtime.NumCPU() }
