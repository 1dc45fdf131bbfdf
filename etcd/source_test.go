package etcd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/connectivity"

	"github.com/logagent/logagent/internal/testenv"
)

const testKey = "/logagent/web1/collect_config"

func TestSourceFollowsKey(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	rev1 := put(t, admin, testKey, cfg("a"))

	ch := runSource(t, NewSource(newClient(t, e), []string{testKey}, log))

	u := next(t, ch, 10*time.Second)
	if u.Key != testKey || u.Revision != rev1 || topicOf(t, u) != "a" || string(u.Value) != cfg("a") {
		t.Fatalf("initial update = %+v, want %s at revision %d, topic a", u, testKey, rev1)
	}

	// A change is applied, through the watch: its own revision.
	rev2 := put(t, admin, testKey, cfg("b"))
	u = next(t, ch, 5*time.Second)
	if u.Revision != rev2 || topicOf(t, u) != "b" {
		t.Fatalf("update = %+v, want revision %d topic b", u, rev2)
	}

	// An invalid value is delivered as it is: judging it is the caller's.
	bad := `[{"path":"/var/log/app.log","topic":""}]`
	rev3 := put(t, admin, testKey, bad)
	if u = next(t, ch, 5*time.Second); u.Revision != rev3 || string(u.Value) != bad {
		t.Fatalf("update = %+v, want revision %d with the value as stored", u, rev3)
	}

	// A later value follows.
	rev4 := put(t, admin, testKey, cfg("c"))
	if u = next(t, ch, 5*time.Second); u.Revision != rev4 || topicOf(t, u) != "c" {
		t.Fatalf("update = %+v, want revision %d topic c", u, rev4)
	}

	// Delete: no value, revision 0.
	if _, err := admin.Delete(opCtx(t), testKey); err != nil {
		t.Fatal(err)
	}
	if u = next(t, ch, 5*time.Second); u.Value != nil || u.Revision != 0 {
		t.Fatalf("update after delete = %+v, want no value, revision 0", u)
	}

	rev5 := put(t, admin, testKey, cfg("d"))
	if got := until(t, ch, rev5, 5*time.Second); len(got) != 1 || topicOf(t, got[0]) != "d" {
		t.Fatalf("after re-create got revisions %v, want just %d", revs(got), rev5)
	}
}

func TestSourceMissingKeyAtStart(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	// Another key under the prefix must not be mistaken for ours.
	put(t, admin, testKey+"_old", cfg("x"))

	ch := runSource(t, NewSource(newClient(t, e), []string{testKey}, log))
	u := next(t, ch, 10*time.Second)
	if u.Value != nil || u.Revision != 0 {
		t.Fatalf("initial update = %+v, want no value, revision 0", u)
	}
	rev := put(t, admin, testKey, `[]`)
	if got := until(t, ch, rev, 5*time.Second); len(got) != 1 || string(got[0].Value) != "[]" {
		t.Fatalf("got %+v, want one update: empty list at revision %d", got, rev)
	}
}

func TestSourceSurvivesEtcdRestart(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	rev1 := put(t, admin, testKey, cfg("a"))
	ch := runSource(t, NewSource(newClient(t, e), []string{testKey}, log))
	if u := next(t, ch, 10*time.Second); u.Revision != rev1 {
		t.Fatalf("initial update revision %d, want %d", u.Revision, rev1)
	}

	e.Stop()
	e.Restart(t)
	rev2 := put(t, admin, testKey, cfg("b"))

	// Exactly the new revision: the revision applied before the outage
	// must not come again.
	got := until(t, ch, rev2, 10*time.Second)
	if len(got) != 1 || topicOf(t, got[0]) != "b" {
		t.Fatalf("after restart got revisions %v, want just %d", revs(got), rev2)
	}
}

func TestSourceRereadsAfterCompaction(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, logs := testLogger(t)
	rev1 := put(t, admin, testKey, cfg("a"))
	ch := runSource(t, NewSource(newClient(t, e), []string{testKey}, log))
	if u := next(t, ch, 10*time.Second); u.Revision != rev1 {
		t.Fatalf("initial update revision %d, want %d", u.Revision, rev1)
	}

	// While the agent is cut off, other keys change and the history it would
	// resume from is compacted away: the re-read finds the revision already
	// applied and must not apply it again.
	e.Partition()
	put(t, admin, "/logagent/other/collect_config", cfg("x"))
	other := put(t, admin, "/logagent/other/collect_config", cfg("y"))
	// Compact(rev) keeps rev itself; the resume revision is older.
	if _, err := admin.Compact(opCtx(t), other); err != nil {
		t.Fatalf("compact: %v", err)
	}
	e.Heal(t)
	// The re-read sees revision `other` and watches on from the next one.
	testenv.Eventually(t, 15*time.Second, func() bool { return logs.Contains(fmt.Sprintf("from_revision=%d", other+1)) },
		"the watch was not restarted after the compaction")
	if !logs.Contains("compacted") {
		t.Fatalf("the watch was not restarted through the compaction path")
	}
	rev2 := put(t, admin, testKey, cfg("b"))
	if got := until(t, ch, rev2, 5*time.Second); len(got) != 1 {
		t.Fatalf("after compaction without changes got revisions %v, want just %d", revs(got), rev2)
	}

	// Again, and this time the key changes twice meanwhile.
	e.Partition()
	put(t, admin, testKey, cfg("b2"))
	rev3 := put(t, admin, testKey, cfg("c"))
	last := put(t, admin, "/logagent/other/collect_config", cfg("x"))
	if _, err := admin.Compact(opCtx(t), last); err != nil {
		t.Fatalf("compact: %v", err)
	}
	e.Heal(t)

	got := until(t, ch, rev3, 15*time.Second)
	if len(got) != 1 || topicOf(t, got[0]) != "c" {
		t.Fatalf("after compaction got revisions %v, want just the latest %d", revs(got), rev3)
	}
	if n := strings.Count(logs.String(), "compacted"); n != 2 {
		t.Errorf("watch restarted %d times through the compaction path, want 2", n)
	}

	// The new watch works, and nothing was applied twice.
	rev4 := put(t, admin, testKey, cfg("d"))
	if got := until(t, ch, rev4, 5*time.Second); len(got) != 1 {
		t.Fatalf("after re-watch got revisions %v, want just %d", revs(got), rev4)
	}
}

func TestSourceStartsWhileEtcdDown(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	rev1 := put(t, admin, testKey, cfg("a"))
	e.Stop()

	// etcd stays down until NewClient returned: a client that waited for
	// it would fail here (newClient fails the test on an error).
	cli := newClient(t, e)
	ch := runSource(t, NewSource(cli, []string{testKey}, log))
	// Make sure the client really tried and failed before etcd comes up.
	testenv.Eventually(t, 10*time.Second, func() bool {
		return cli.ActiveConnection().GetState() == connectivity.TransientFailure
	}, "client connection never failed while etcd was down")
	select {
	case u := <-ch:
		t.Fatalf("update %+v while etcd is down", u)
	default:
	}

	e.Restart(t)
	u := next(t, ch, 10*time.Second)
	if u.Revision != rev1 || topicOf(t, u) != "a" {
		t.Fatalf("update = %+v, want revision %d", u, rev1)
	}
}

func TestSourceRunReturnsOnCancelWhileDown(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	e.Stop()
	log, _ := testLogger(t)
	s := NewSource(newClient(t, e), []string{testKey}, log)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Run(ctx, func(us []Update) { t.Errorf("apply(%+v) while etcd is down", us) })
	if err != context.DeadlineExceeded {
		t.Errorf("Run = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run returned %v after its context ended", took-300*time.Millisecond)
	}
}

func TestTracker(t *testing.T) {
	present := func(rev, mod int64, v string) observation {
		return observation{rev: rev, present: true, modRev: mod, value: []byte(v)}
	}
	missing := func(rev int64) observation { return observation{rev: rev} }
	type step struct {
		obs             observation
		apply, replaced bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first observation applies, even a missing key", []step{{missing(5), true, false}}},
		{"same revision seen again by a later read", []step{
			{present(10, 8, "a"), true, false},
			{present(12, 8, "a"), false, false},
			{present(12, 12, "b"), true, false},
			{present(20, 12, "b"), false, false},
		}},
		{"missing after missing is not news", []step{
			{missing(5), true, false},
			{missing(9), false, false},
		}},
		{"delete then re-read of the missing key applies once", []step{
			{present(10, 10, "a"), true, false},
			{missing(11), true, false},  // watch: delete event
			{missing(15), false, false}, // re-read after reconnect
			{present(16, 16, "a"), true, false},
		}},
		{"revision going backwards means a rebuilt etcd: follow it", []step{
			{present(100, 90, "a"), true, false},
			{present(7, 3, "b"), true, true},
			{present(8, 3, "b"), false, false},
		}},
		{"older mod revision at a newer read revision: rebuilt etcd", []step{
			{present(100, 90, "a"), true, false},
			{present(200, 50, "b"), true, true},
		}},
		{"same mod revision, different value: rebuilt etcd", []step{
			{present(100, 90, "a"), true, false},
			{present(100, 90, "b"), true, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr tracker
			for i, s := range tc.steps {
				apply, replaced := tr.accept(s.obs)
				if apply != s.apply || replaced != s.replaced {
					t.Errorf("step %d %+v: accept = (%v, %v), want (%v, %v)", i, s.obs, apply, replaced, s.apply, s.replaced)
				}
			}
		})
	}
}
