package cli

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRunDeliversSIGHUPAsReload sends this test process real SIGHUPs: during
// Run they arrive on reload (a burst while one waits is one request), and
// after Run they are ignored. A fatal SIGHUP would end the test binary.
func TestRunDeliversSIGHUPAsReload(t *testing.T) {
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	err := Run("", func(ctx context.Context, _ context.CancelFunc, reload <-chan os.Signal) error {
		hup()
		select {
		case <-reload:
		case <-time.After(10 * time.Second):
			t.Fatal("no reload request for a SIGHUP")
		}
		for range 3 {
			hup()
		}
		select {
		case <-reload:
		case <-time.After(10 * time.Second):
			t.Fatal("no reload request for three SIGHUPs")
		}
		if ctx.Err() != nil {
			t.Error("SIGHUP cancelled the daemon's context")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hup() // after Run: ignored, not fatal
	hup()
}
