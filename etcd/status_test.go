package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/internal/testenv"
)

const statusKey = "/logagent/web1/status"

// fakeAgent serves snapshots whose content the test controls, and counts
// how often the publisher asked.
type fakeAgent struct {
	mu     sync.Mutex
	st     collect.Status
	calls  int
	bumpOn bool // change the status on every call
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{st: collect.Status{
		Host: "web1", Version: "1.2.3", StartTime: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
		Config: collect.ConfigStatus{AppliedRevision: 7},
		Files:  []collect.FileStatus{{Path: "/var/log/a.log", Topic: "a", Offset: 10, Size: 20, LagBytes: 10}},
	}}
}

func (f *fakeAgent) snapshot() collect.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.bumpOn {
		f.st.Files[0].Offset++
	}
	st := f.st
	st.Files = append([]collect.FileStatus(nil), f.st.Files...)
	st.UpdatedAt = time.Now() // must not count as a change
	return st
}

func (f *fakeAgent) set(fn func(*collect.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

func (f *fakeAgent) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// runPublisher runs p in the background; the returned stop cancels it and
// returns Run's result.
func runPublisher(t *testing.T, p *StatusPublisher, f *fakeAgent) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, f.snapshot) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// getStatus reads the status key: the decoded status, its ModRevision and
// lease, or ok=false if it is missing.
func getStatus(t *testing.T, cli *clientv3.Client) (st collect.Status, kv *clientv3.GetResponse, ok bool) {
	t.Helper()
	resp, err := cli.Get(opCtx(t), statusKey)
	if err != nil {
		t.Fatalf("get status: %v", err)
	}
	if len(resp.Kvs) == 0 {
		return st, resp, false
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		t.Fatalf("status is not JSON: %v: %s", err, resp.Kvs[0].Value)
	}
	return st, resp, true
}

func TestStatusPublisherWritesOnlyChanges(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	f := newFakeAgent()
	p := NewStatusPublisher(newClient(t, e), statusKey, log, TTL(7*time.Second), MinInterval(200*time.Millisecond), CheckInterval(10*time.Millisecond))
	started := time.Now()
	stop := runPublisher(t, p, f)

	// The first write does not wait for MinInterval.
	var resp *clientv3.GetResponse
	testenv.Eventually(t, 5*time.Second, func() bool {
		var ok bool
		_, resp, ok = getStatus(t, admin)
		return ok
	}, "status never written")
	st, _, _ := getStatus(t, admin)
	if st.Host != "web1" || st.Version != "1.2.3" || st.Config.AppliedRevision != 7 || len(st.Files) != 1 || st.Files[0].Offset != 10 {
		t.Errorf("written status = %+v", st)
	}
	if st.UpdatedAt.IsZero() || st.UpdatedAt.Before(started.Add(-time.Second)) {
		t.Errorf("updated_at = %v, want the write time", st.UpdatedAt)
	}

	// Under a lease with the configured TTL.
	kv := resp.Kvs[0]
	if kv.Lease == 0 {
		t.Fatal("status key has no lease")
	}
	ttl, err := admin.TimeToLive(opCtx(t), clientv3.LeaseID(kv.Lease))
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL != 7 {
		t.Errorf("lease granted TTL = %d, want 7", ttl.GrantedTTL)
	}

	// An unchanged snapshot (UpdatedAt aside) is not rewritten, however
	// long past MinInterval: 100 checks at >= 10 ms are >= 5 MinIntervals.
	n := f.callCount()
	testenv.Eventually(t, 10*time.Second, func() bool { return f.callCount() >= n+100 }, "snapshot not polled")
	if _, r, _ := getStatus(t, admin); r.Kvs[0].ModRevision != kv.ModRevision {
		t.Errorf("unchanged status rewritten: mod revision %d -> %d", kv.ModRevision, r.Kvs[0].ModRevision)
	}

	// A change is written.
	f.set(func(s *collect.Status) {
		s.Config.RejectedRevision, s.Config.RejectReason = 9, "entry 0: topic: must not be empty"
	})
	testenv.Eventually(t, 5*time.Second, func() bool {
		st, _, _ := getStatus(t, admin)
		return st.Config.RejectedRevision == 9
	}, "changed status not written")

	// Cancel: Run returns and the key is gone at once (lease revoked).
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if _, _, ok := getStatus(t, admin); ok {
		t.Error("status key still present after Run returned")
	}
	if ttl, err := admin.TimeToLive(opCtx(t), clientv3.LeaseID(kv.Lease)); err != nil || ttl.TTL != -1 {
		t.Errorf("lease after stop: %+v, %v; want revoked (TTL -1)", ttl, err)
	}
}

func TestStatusPublisherRateLimited(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	f := newFakeAgent()
	f.bumpOn = true // a different status on every check
	const minInterval = 200 * time.Millisecond

	wctx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	wch := admin.Watch(wctx, statusKey)

	p := NewStatusPublisher(newClient(t, e), statusKey, log, MinInterval(minInterval), CheckInterval(5*time.Millisecond))
	stop := runPublisher(t, p, f)

	var writes []collect.Status
	collect := func(done func() bool, what string) {
		deadline := time.After(10 * time.Second)
		for !done() {
			select {
			case wr := <-wch:
				for _, ev := range wr.Events {
					if ev.Type != clientv3.EventTypePut {
						continue
					}
					var st collect.Status
					if err := json.Unmarshal(ev.Kv.Value, &st); err != nil {
						t.Fatal(err)
					}
					writes = append(writes, st)
				}
			case <-deadline:
				t.Fatalf("%s: only %d writes in 10s", what, len(writes))
			}
		}
	}
	collect(func() bool { return len(writes) >= 5 }, "while the status changes on every check")
	// The last change is written although nothing follows it: writes are
	// delayed by the rate limit, not starved by it.
	f.mu.Lock()
	f.bumpOn, f.st.Version = false, "last"
	f.mu.Unlock()
	collect(func() bool { return writes[len(writes)-1].Version == "last" }, "the last change")
	_ = stop()
	for i := 1; i < len(writes); i++ {
		gap := writes[i].UpdatedAt.Sub(writes[i-1].UpdatedAt)
		if gap < minInterval {
			t.Errorf("write %d came %v after the previous one, want >= %v", i, gap, minInterval)
		}
		if writes[i].Files[0].Offset < writes[i-1].Files[0].Offset || i < len(writes)-1 && writes[i].Files[0].Offset == writes[i-1].Files[0].Offset {
			t.Errorf("write %d does not carry the newer snapshot", i)
		}
	}
}

func TestStatusPublisherReplacesRevokedLease(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	// clientv3 sends a keepalive every TTL/3 and learns of the revoke from
	// its answer, so the TTL bounds how long the key stays away.
	p := NewStatusPublisher(newClient(t, e), statusKey, log, TTL(3*time.Second), MinInterval(time.Hour), CheckInterval(10*time.Millisecond))
	runPublisher(t, p, newFakeAgent())

	var lease1 int64
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, r, ok := getStatus(t, admin)
		if ok {
			lease1 = r.Kvs[0].Lease
		}
		return ok
	}, "status never written")

	// Someone revokes the lease (or etcd lost it): the key goes, and comes
	// back at once under a new lease, though MinInterval is an hour.
	if _, err := admin.Revoke(opCtx(t), clientv3.LeaseID(lease1)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, r, ok := getStatus(t, admin)
		return ok && r.Kvs[0].Lease != lease1
	}, "status not rewritten under a new lease after the old one was revoked")
}

func TestStatusPublisherAfterEtcdRestart(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, logs := testLogger(t)
	// 2 s is etcd's minimum TTL with the default election timeout.
	p := NewStatusPublisher(newClient(t, e), statusKey, log, TTL(2*time.Second), MinInterval(time.Hour), CheckInterval(10*time.Millisecond))
	runPublisher(t, p, newFakeAgent())

	var lease1 int64
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, r, ok := getStatus(t, admin)
		if ok {
			lease1 = r.Kvs[0].Lease
		}
		return ok
	}, "status never written")

	// Down for longer than the TTL: the client gives the lease up.
	e.Stop()
	testenv.Eventually(t, 10*time.Second, func() bool { return logs.Contains("status lease lost") },
		"publisher did not notice the lease going stale while etcd was down")
	e.Restart(t)

	var lease2 int64
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, r, ok := getStatus(t, admin)
		if ok {
			lease2 = r.Kvs[0].Lease
		}
		return ok && lease2 != lease1
	}, "status not rewritten under a new lease after the restart")
	ttl, err := admin.TimeToLive(opCtx(t), clientv3.LeaseID(lease2))
	if err != nil || ttl.GrantedTTL != 2 {
		t.Errorf("new lease: %+v, %v; want granted TTL 2", ttl, err)
	}

	// etcd restored the old lease with a fresh TTL; when it expires it
	// must not take the status key with it.
	testenv.Eventually(t, 10*time.Second, func() bool {
		ttl, err := admin.TimeToLive(opCtx(t), clientv3.LeaseID(lease1))
		return err == nil && ttl.TTL == -1
	}, "old lease never expired")
	if _, r, ok := getStatus(t, admin); !ok || r.Kvs[0].Lease != lease2 {
		t.Errorf("status key after the old lease expired: present=%v", ok)
	}
}

func TestStatusPublisherStopWhileEtcdDown(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	log, logs := testLogger(t)
	p := NewStatusPublisher(newClient(t, e), statusKey, log, CheckInterval(10*time.Millisecond))
	f := newFakeAgent()
	e.Stop()
	stop := runPublisher(t, p, f)
	testenv.Eventually(t, 5*time.Second, func() bool { return f.callCount() > 0 }, "snapshot never called")
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	// No lease was granted, so there is nothing to revoke and no wait for
	// a down etcd to answer a revoke.
	if logs.Contains("revoke") {
		t.Errorf("a revoke was tried with no lease granted:\n%s", logs.String())
	}
}

// TestLimitFilesKeepsWhatMatters: a status of many files lists the ones
// with an error first, then the most lagging, and says how many it left out;
// the total lag counts them all. A short list keeps its order.
func TestLimitFilesKeepsWhatMatters(t *testing.T) {
	var st collect.Status
	for i := range 10 {
		st.Files = append(st.Files, collect.FileStatus{Path: fmt.Sprintf("/f%d", i), LagBytes: int64(i)})
	}
	st.Files[2].LastError = "permission denied"
	st.Files[3].SendError = "unknown topic"
	short := st
	short.LimitFiles(10)
	if short.FilesOmitted != 0 || short.LagBytes != 45 || short.Files[0].Path != "/f0" {
		t.Fatalf("a list within the limit changed: omitted %d, lag %d, first %s", short.FilesOmitted, short.LagBytes, short.Files[0].Path)
	}
	st.LimitFiles(4)
	var paths []string
	for _, f := range st.Files {
		paths = append(paths, f.Path)
	}
	if want := []string{"/f3", "/f2", "/f9", "/f8"}; !slices.Equal(paths, want) || st.FilesOmitted != 6 || st.LagBytes != 45 {
		t.Fatalf("kept %v (want %v), omitted %d, lag %d", paths, want, st.FilesOmitted, st.LagBytes)
	}
}
