//go:build unix && !linux

package main

import "syscall"

// childSysProcAttr puts a child in its own process group. There is no
// Pdeathsig here: a logdemo killed with SIGKILL leaves its children running.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
