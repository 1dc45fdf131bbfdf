package service

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen binds a notify socket like systemd's and points NOTIFY_SOCKET at it.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestReadyStatusStopping(t *testing.T) {
	conn := listen(t)
	Ready(discard, "shipping 3 files")
	if got := receive(t, conn); got != "READY=1\nSTATUS=shipping 3 files" {
		t.Fatalf("ready: got %q", got)
	}
	Status(discard, "etcd unreachable")
	if got := receive(t, conn); got != "STATUS=etcd unreachable" {
		t.Fatalf("status: got %q", got)
	}
	Stopping(discard, "draining")
	if got := receive(t, conn); got != "STOPPING=1\nSTATUS=draining" {
		t.Fatalf("stopping: got %q", got)
	}
}

func TestWatchdogPingsOnlyWhileAlive(t *testing.T) {
	conn := listen(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100ms: pings every 50ms
	t.Setenv("WATCHDOG_PID", "")
	alive := make(chan bool, 1)
	alive <- true
	state := true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watchdog(ctx, discard, func() bool {
			select {
			case state = <-alive:
			default:
			}
			return state
		})
	}()
	for range 3 {
		if got := receive(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
	alive <- false
	// Drain pings sent before the change was seen, then expect silence.
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 64)
	quiet := 0
	for time.Now().Before(deadline) && quiet < 3 {
		_ = conn.SetReadDeadline(time.Now().Add(120 * time.Millisecond))
		if _, err := conn.Read(buf); err != nil {
			quiet++ // one read window longer than the ping interval with nothing
			continue
		}
		quiet = 0
	}
	if quiet < 3 {
		t.Fatal("watchdog kept pinging after alive turned false")
	}
	cancel()
	<-done
}

func TestWatchdogOffWithoutWatchdogSec(t *testing.T) {
	listen(t)
	t.Setenv("WATCHDOG_USEC", "")
	done := make(chan struct{})
	go func() {
		Watchdog(context.Background(), discard, func() bool { return true })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watchdog did not return without WatchdogSec")
	}
}

func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	var sb strings.Builder
	log := slog.New(slog.NewTextHandler(&sb, nil))
	Ready(log, "x")
	Stopping(log, "y")
	if sb.Len() != 0 {
		t.Fatalf("logged without a socket: %s", sb.String())
	}
}
