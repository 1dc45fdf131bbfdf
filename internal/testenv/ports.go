// Package testenv starts the real services logagent's tests run against
// (embedded etcd, in-process Kafka) and holds small test helpers.
package testenv

import (
	"net"
	"sync"
	"testing"
)

var (
	portsMu sync.Mutex
	// given holds ports already handed out in this process, so two services
	// started by one test binary never get the same port even when the
	// kernel offers it again after the probe listener closed.
	given = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// has not been returned before in this process. Another process may still
// take it before the caller binds it; that race is accepted for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: probe for a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
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
	t.Fatalf("testenv: no fresh free port after 50 tries")
	return 0
}
