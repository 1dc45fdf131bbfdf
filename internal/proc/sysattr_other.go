//go:build unix && !linux

package proc

import "syscall"

// sysProcAttr puts a child in its own process group. There is no Pdeathsig
// here: a parent killed with SIGKILL leaves its children running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
