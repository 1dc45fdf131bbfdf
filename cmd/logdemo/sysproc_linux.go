package main

import "syscall"

// childSysProcAttr puts a child in its own process group and has the kernel
// SIGKILL it when logdemo dies (Pdeathsig fires when the forking thread
// exits; Go only retires threads that were locked, which logdemo never does).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
