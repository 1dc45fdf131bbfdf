package service

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/internal/testenv"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestReadyStatusStopping(t *testing.T) {
	sock := testenv.ListenNotify(t, 0)
	for _, c := range []struct {
		send func()
		want string
	}{
		{func() { Ready(discard, "shipping 3 files") }, "READY=1\nSTATUS=shipping 3 files"},
		{func() { Status(discard, "etcd unreachable") }, "STATUS=etcd unreachable"},
		{func() { Stopping(discard, "draining") }, "STOPPING=1\nSTATUS=draining"},
	} {
		c.send()
		if got, err := sock.Receive(5 * time.Second); err != nil || got != c.want {
			t.Fatalf("got %q (%v), want %q", got, err, c.want)
		}
	}
}

func TestWatchdogPingsOnlyWhileAlive(t *testing.T) {
	sock := testenv.ListenNotify(t, 100*time.Millisecond) // pings every 50ms
	t.Setenv("WATCHDOG_PID", "")
	alive := make(chan bool, 1)
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
		sock.Expect(t, "WATCHDOG=1", 5*time.Second)
	}
	alive <- false
	// Pings sent before the change was seen may still arrive; then three
	// read windows longer than the ping interval in a row must stay empty.
	deadline := time.Now().Add(2 * time.Second)
	quiet := 0
	for time.Now().Before(deadline) && quiet < 3 {
		if _, err := sock.Receive(120 * time.Millisecond); err != nil {
			quiet++
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
	testenv.ListenNotify(t, 0)
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
