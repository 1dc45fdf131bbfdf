package testenv

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// frontClient is a client on Endpoints, the way code under test connects.
func frontClient(t *testing.T, e *Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestEtcdStopRestartKeepsDataAndIsFast(t *testing.T) {
	t.Parallel()
	e := StartEtcd(t)
	admin := e.Client(t)
	front := frontClient(t, e)
	pr, err := admin.Put(ctxT(t, 10*time.Second), "k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	// An open watch through Endpoints would hold etcd's graceful Close for 7 s.
	// (With an explicit revision: a watch "from now" resumes at its creation
	// revision, not after it, and replays the event there after a reconnect.)
	wch := front.Watch(ctxT(t, 30*time.Second), "k", clientv3.WithRev(pr.Header.Revision+1), clientv3.WithCreatedNotify())
	select {
	case wr := <-wch:
		if !wr.Created {
			t.Fatalf("first watch response %+v, want created", wr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch not created")
	}

	start := time.Now()
	e.Stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop took %v with a watch open", took)
	}
	if c, err := net.DialTimeout("tcp", e.Endpoints()[0], time.Second); err == nil {
		_ = c.Close()
		t.Error("Endpoints still accept connections after Stop")
	}
	e.Stop() // idempotent

	e.Restart(t)
	resp, err := admin.Get(ctxT(t, 10*time.Second), "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart Get = %+v, %v; want v1 kept", resp, err)
	}
	// The watch on Endpoints resumes by itself.
	if _, err := admin.Put(ctxT(t, 10*time.Second), "k", "v2"); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-wch:
		if len(wr.Events) != 1 || string(wr.Events[0].Kv.Value) != "v2" {
			t.Errorf("watch got %+v, want the v2 put", wr)
		}
	case <-time.After(10 * time.Second):
		t.Error("watch through Endpoints did not resume after restart")
	}
}

func TestEtcdPartition(t *testing.T) {
	t.Parallel()
	e := StartEtcd(t)
	admin := e.Client(t)
	front := frontClient(t, e)

	e.Partition()
	if _, err := front.Get(ctxT(t, 500*time.Millisecond), "k"); err == nil {
		t.Error("Get through Endpoints succeeded during a partition")
	}
	if _, err := admin.Put(ctxT(t, 10*time.Second), "k", "v"); err != nil {
		t.Errorf("admin client failed during a partition: %v", err)
	}
	e.Heal(t)
	resp, err := front.Get(ctxT(t, 10*time.Second), "k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Errorf("Get through Endpoints after Heal = %+v, %v", resp, err)
	}
}

// TestFreePortUnique also checks the ports stay clear of the ephemeral
// range, where a port may be taken while a test has its service down, and
// that another process cannot reserve them.
func TestFreePortUnique(t *testing.T) {
	inPool := map[int]bool{}
	for _, p := range portPool() {
		inPool[p] = true
	}
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		if len(inPool) > 0 && !inPool[p] {
			t.Fatalf("port %d is in the ephemeral range", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d not free: %v", p, err)
		}
		_ = l.Close()
		// Another process (flock locks are per open file, so another open
		// file stands for it) cannot reserve the port.
		if len(inPool) > 0 {
			if lock, err := reservePort(p); err != nil || lock != nil {
				t.Fatalf("port %d reserved twice (%v)", p, err)
			}
		}
	}
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, func() bool { n++; return n == 3 }, "never")
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}

	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine like it ends a test
		defer close(done)
		Eventually(ft, 50*time.Millisecond, func() bool { return false }, "value %d", 7)
	}()
	<-done
	if want := "not within 50ms: value 7"; ft.msg != want {
		t.Errorf("failure message %q, want %q", ft.msg, want)
	}
}

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
