package proc

import "syscall"

// sysProcAttr puts a child in its own process group and has the kernel
// SIGKILL it when the parent dies (Pdeathsig fires when the forking thread
// exits; Go only retires threads that were locked, which these parents never
// do).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
