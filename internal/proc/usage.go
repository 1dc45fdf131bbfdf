package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClockTick is USER_HZ, the unit of the times in /proc (100 per second on
// Linux): the resolution of CPUSoFar and MachineBusy.
const ClockTick = 10 * time.Millisecond

// Rusage returns the reaped process's resource usage: CPU of all its threads
// and its peak RSS (wait4's; it also counts the parent's memory the child
// shared until its exec, see PeakRSSSoFar).
func (p *Process) Rusage() (cpu time.Duration, maxRSSKiB int64, err error) {
	if !p.Exited() {
		return 0, 0, errors.New("still running")
	}
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, 0, errors.New("no rusage")
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss, nil // Linux: ru_maxrss is in KiB
}

// CPUSoFar reads the running process's user+system time (all threads) from
// /proc/<pid>/stat, in ClockTick steps.
func (p *Process) CPUSoFar() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/stat")
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
	return time.Duration(ut+st) * ClockTick, nil
}

// PeakRSSSoFar is a running process's VmHWM in KiB (0 if unknown): its own
// peak, which wait4's ru_maxrss is not.
func (p *Process) PeakRSSSoFar() int64 { return p.statusKiB("VmHWM:") }

// FileRSS is a running process's RssFile in KiB (0 if unknown): the pages
// of files it maps, chiefly its own executable. For a Go binary of ~30 MB this
// is most of its text, a floor under RSS that no heap tuning moves.
func (p *Process) FileRSS() int64 { return p.statusKiB("RssFile:") }

// statusKiB reads one "Name:  N kB" field of /proc/PID/status.
func (p *Process) statusKiB(field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
