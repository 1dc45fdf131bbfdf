// Package testenv starts the real services logagent's tests run against
// (embedded etcd, in-process Kafka) and holds small test helpers.
package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

var (
	portsMu sync.Mutex
	// given holds ports already handed out in this process, so two services
	// started by one test binary never get the same port.
	given = map[int]bool{}
)

// The ports FreePort hands out lie below the kernel's ephemeral range, from
// lowestPort up. A port from that range (what "127.0.0.1:0" gives) is free
// for anyone while a test has its service down for a restart: any process's
// next listener on port 0 or outgoing connection may take it, and the
// restart then fails with "address already in use" (it did, in CI). Below
// the range only an explicit bind takes a port, which on a test machine
// means another test binary's FreePort picking the same one of thousands.
const lowestPort = 15000

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, lies
// outside the kernel's ephemeral port range and has not been returned
// before in this process. Another test process may still take it before
// the caller binds it; that race is accepted for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	low, high := portPool()
	for range 200 {
		port := low + rand.IntN(high-low)
		if low == 0 {
			port = 0 // no room below the ephemeral range: let the kernel choose
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		port = l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			t.Fatalf("testenv: close port probe: %v", err)
		}
		portsMu.Lock()
		fresh := !given[port]
		given[port] = true
		portsMu.Unlock()
		if fresh {
			return port
		}
	}
	t.Fatalf("testenv: no fresh free port in [%d, %d) after 200 tries", low, high)
	return 0
}

// portPool returns the range [low, high) FreePort picks from: lowestPort up
// to the start of the ephemeral range, or (0, 1) when that leaves fewer
// than 1000 ports.
func portPool() (low, high int) {
	ephemeralStart, err := ephemeralRangeStart()
	if err != nil || ephemeralStart-lowestPort < 1000 {
		return 0, 1
	}
	return lowestPort, ephemeralStart
}

// ephemeralRangeStart reads the first port of Linux's ephemeral range.
func ephemeralRangeStart() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, errors.New("ip_local_port_range: want two numbers")
	}
	var start int
	if _, err := fmt.Sscan(fields[0], &start); err != nil {
		return 0, fmt.Errorf("ip_local_port_range: %w", err)
	}
	return start, nil
}
