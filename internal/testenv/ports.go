// Package testenv starts the real services logagent's tests run against
// (embedded etcd, in-process Kafka) and holds small test helpers.
package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The ports FreePort hands out lie outside the kernel's ephemeral range. A
// port from that range (what "127.0.0.1:0" gives) is free for anyone while a
// test has its service down for a restart: any process's next listener on
// port 0 or outgoing connection may take it, and the restart then fails with
// "address already in use" (it did, in CI). Outside the range only an
// explicit bind takes a port, and test binaries running in parallel reserve
// theirs with a lock file, so none hands out another's port.
const (
	lowestPort  = 15000
	highestPort = 65535
)

var (
	portsMu sync.Mutex
	// reserved holds the ports this process handed out, with their lock
	// files, open (and so locked) until it exits; nil for a port the kernel
	// chose (no pool).
	reserved = map[int]*os.File{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, lies
// outside the kernel's ephemeral port range and is reserved for this process:
// no other call, here or in another test binary using FreePort, returns it
// until this process exits. A program that binds ports by number on its own
// could still take it; that is accepted for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	pool := portPool()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := 0 // no room outside the ephemeral range: the kernel chooses
		if len(pool) > 0 {
			port = pool[rand.IntN(len(pool))]
		}
		var lock *os.File
		if port != 0 {
			if _, ok := reserved[port]; ok {
				continue
			}
			var err error
			if lock, err = reservePort(port); err != nil {
				t.Fatalf("testenv: reserve port %d: %v", port, err)
			}
			if lock == nil {
				continue // another test binary has it
			}
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			if lock != nil {
				lock.Close()
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			t.Fatalf("testenv: probe port %d: %v", port, err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			t.Fatalf("testenv: close port probe: %v", err)
		}
		if _, ok := reserved[port]; ok {
			continue // the kernel offered one handed out before
		}
		reserved[port] = lock
		return port
	}
	t.Fatalf("testenv: no free port after 200 tries")
	return 0
}

// reservePort takes an exclusive lock on the port's file in a directory all
// test binaries share; nil (and no error) if another process holds it.
func reservePort(port int) (*os.File, error) {
	dir := filepath.Join(os.TempDir(), "logagent-testenv-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	_ = os.Chmod(dir, 0o777|os.ModeSticky) // other users' test runs share it (the umask narrowed it)
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDONLY, 0o644)
	if errors.Is(err, os.ErrPermission) {
		return nil, nil // another user's file: theirs
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

var (
	poolOnce sync.Once
	pool     []int
)

// portPool lists the ports from lowestPort to highestPort outside the
// ephemeral range; none (FreePort then takes what the kernel gives) if the
// range cannot be read or leaves fewer than 1000.
func portPool() []int {
	poolOnce.Do(func() {
		start, end, err := ephemeralRange()
		if err != nil {
			return
		}
		for p := lowestPort; p <= highestPort; p++ {
			if p < start || p > end {
				pool = append(pool, p)
			}
		}
		if len(pool) < 1000 {
			pool = nil
		}
	})
	return pool
}

// ephemeralRange reads Linux's ephemeral port range.
func ephemeralRange() (start, end int, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, 0, errors.New("ip_local_port_range: want two numbers")
	}
	if start, err = strconv.Atoi(fields[0]); err == nil {
		end, err = strconv.Atoi(fields[1])
	}
	if err != nil {
		return 0, 0, fmt.Errorf("ip_local_port_range: %w", err)
	}
	return start, end, nil
}
