package etcd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
)

// logBuffer collects a test's slog output; it is printed if the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) Contains(s string) bool { return strings.Contains(b.String(), s) }

func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// newClient builds the product client (NewClient) for the code under test.
func newClient(t *testing.T, e *testenv.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(conf.Etcd{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// opCtx is a context for one test-side etcd request; generous because the
// admin client may be reconnecting after a restart.
func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, cli *clientv3.Client, key, val string) int64 {
	t.Helper()
	resp, err := cli.Put(opCtx(t), key, val)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp.Header.Revision
}

// runSource runs s in the background. Updates arrive on the returned
// channel; the source is stopped, and its return value checked, at cleanup.
func runSource(t *testing.T, s *Source) <-chan Update {
	ch := make(chan Update, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(us []Update) {
			for _, u := range us {
				ch <- u
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Source.Run returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Source.Run did not return after cancel")
		}
	})
	return ch
}

// next returns the next update, failing the test after timeout.
func next(t *testing.T, ch <-chan Update, timeout time.Duration) Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(timeout):
		t.Fatalf("no update within %v", timeout)
		return Update{}
	}
}

// until collects updates up to and including the first with revision rev.
func until(t *testing.T, ch <-chan Update, rev int64, timeout time.Duration) []Update {
	t.Helper()
	deadline := time.After(timeout)
	var got []Update
	for {
		select {
		case u := <-ch:
			got = append(got, u)
			if u.Revision == rev {
				return got
			}
		case <-deadline:
			t.Fatalf("no update with revision %d within %v; got revisions %v", rev, timeout, revs(got))
			return nil
		}
	}
}

func revs(us []Update) []int64 {
	r := make([]int64, len(us))
	for i, u := range us {
		r[i] = u.Revision
	}
	return r
}

// cfg is a valid one-entry collect config sending /var/log/<name>.log to topic name.
func cfg(name string) string {
	return `[{"path":"/var/log/` + name + `.log","topic":"` + name + `"}]`
}

// topicOf returns the single entry's topic of an update with a valid value.
func topicOf(t *testing.T, u Update) string {
	t.Helper()
	entries, err := collect.ParseCollectConfig(u.Value)
	if err != nil {
		t.Fatalf("update rev %d: %v", u.Revision, err)
	}
	if len(entries) != 1 {
		t.Fatalf("update rev %d has %d entries, want 1", u.Revision, len(entries))
	}
	return entries[0].Topic
}
