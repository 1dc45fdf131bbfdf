package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/prometheus/client_golang/prometheus"
)

// tailer runs a Manager on a temp dir with fast timings and a recording sink.
type tailer struct {
	t       *testing.T
	dir     string
	regPath string
	sink    *recordingSink
	reg     *Registry
	mgr     *Manager
	metrics *Metrics
	cancel  context.CancelFunc
	done    chan struct{}
}

func testOptions() ManagerOptions {
	return ManagerOptions{
		HostID: "test-host", MaxLineBytes: 1024, MaxMessageBytes: 1 << 20, MaxBytesInFlight: 16 << 20,
		RescanInterval: 100 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		RotateWait: 200 * time.Millisecond, CloseInactive: time.Minute,
		MaxOpenFiles: 100, ForgetAfter: time.Hour,
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTailer(t *testing.T, dir string, entries ...collect.Entry) *tailer {
	return newTailerWith(t, testOptions(), dir, entries...)
}

func newTailerWith(t *testing.T, opts ManagerOptions, dir string, entries ...collect.Entry) *tailer {
	tl := &tailer{t: t, dir: dir, regPath: filepath.Join(dir, "state", "registry.json"), sink: &recordingSink{}}
	if err := os.MkdirAll(filepath.Dir(tl.regPath), 0o750); err != nil {
		t.Fatal(err)
	}
	tl.start(opts, entries)
	t.Cleanup(tl.stop)
	return tl
}

func (tl *tailer) start(opts ManagerOptions, entries []collect.Entry) {
	tl.startWith(opts, tl.sink, entries...)
}

// startWith starts the manager shipping to sink.
func (tl *tailer) startWith(opts ManagerOptions, sink Sink, entries ...collect.Entry) {
	reg, err := OpenRegistry(tl.regPath)
	if err != nil {
		tl.t.Fatal(err)
	}
	tl.reg = reg
	tl.metrics = NewMetrics(prometheus.NewRegistry())
	tl.mgr = NewManager(opts, reg, sink, tl.metrics, testLogger(tl.t))
	tl.mgr.Apply(entries)
	ctx, cancel := context.WithCancel(context.Background())
	tl.cancel, tl.done = cancel, make(chan struct{})
	go func() { defer close(tl.done); _ = tl.mgr.Run(ctx) }()
}

// stop ends the manager and saves the registry, like a graceful shutdown.
func (tl *tailer) stop() {
	if tl.cancel == nil {
		return
	}
	tl.cancel()
	<-tl.done
	tl.cancel = nil
	if tl.sink != nil {
		tl.sink.pending.Wait()
	}
	if err := tl.reg.Save(); err != nil {
		tl.t.Fatal(err)
	}
}

func (tl *tailer) restart(entries ...collect.Entry) {
	tl.stop()
	tl.start(testOptions(), entries)
}

func entry(dir, pattern string) collect.Entry {
	return collect.Entry{Path: filepath.Join(dir, pattern), Topic: "web_log", Start: collect.StartBeginning, Format: collect.FormatEnvelope, Timestamp: collect.Timestamp{Format: collect.TimestampNone}}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitMessages waits until the sink holds at least n events.
func (tl *tailer) waitMessages(n int) []string {
	tl.t.Helper()
	waitFor(tl.t, 60*time.Second, fmt.Sprintf("%d events (have %d)", n, tl.sink.count()), func() bool { return tl.sink.count() >= n })
	return tl.sink.messages()
}

func appendFile(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func lines(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s-%06d\n", prefix, i)
	}
	return b.String()
}

// waitDistinct waits until every line of want arrived (copies count once).
func (tl *tailer) waitDistinct(want map[string]bool) {
	tl.t.Helper()
	waitFor(tl.t, 60*time.Second, fmt.Sprintf("%d distinct lines", len(want)), func() bool {
		got := map[string]bool{}
		for _, ev := range tl.sink.snapshot() {
			got[ev.Message] = true
		}
		for l := range want {
			if !got[l] {
				return false
			}
		}
		return true
	})
}
