package testenv

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NotifySocket stands in for systemd's notify socket: child processes
// started after ListenNotify send their sd_notify messages to it.
type NotifySocket struct {
	conn *net.UnixConn
}

// ListenNotify binds a unixgram socket and sets NOTIFY_SOCKET for the test
// (so processes started from now on inherit it). WATCHDOG_USEC is set to
// watchdog when it is positive, as systemd does for WatchdogSec.
func ListenNotify(t *testing.T, watchdog time.Duration) *NotifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	}
	return &NotifySocket{conn: conn}
}

// Receive returns the next message, or an error when none arrives within
// timeout.
func (n *NotifySocket) Receive(timeout time.Duration) (string, error) {
	if err := n.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	k, err := n.conn.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:k]), nil
}

// Expect reads messages until one contains the line want (e.g. "READY=1"),
// failing the test after timeout. It returns that message and the ones
// skipped before it.
func (n *NotifySocket) Expect(t *testing.T, want string, timeout time.Duration) (msg string, skipped []string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg, err := n.Receive(time.Until(deadline))
		if err != nil {
			t.Fatalf("testenv: no %q on the notify socket within %v (got %q): %v", want, timeout, skipped, err)
		}
		for line := range strings.SplitSeq(msg, "\n") {
			if line == want {
				return msg, skipped
			}
		}
		skipped = append(skipped, msg)
	}
}
