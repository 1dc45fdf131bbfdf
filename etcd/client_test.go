package etcd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
)

// enableAuth creates a root user and an "agent" user whose role holds
// exactly AgentPermissions (what logctl etcd-roles prints), then turns auth on.
func enableAuth(t *testing.T, admin *clientv3.Client) {
	t.Helper()
	ctx := opCtx(t)
	steps := []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "agent-web1"); return err },
	}
	for _, p := range AgentPermissions("/logagent/", "web1", nil) {
		perm := clientv3.PermissionType(clientv3.PermRead)
		if p.Write {
			perm = clientv3.PermissionType(clientv3.PermWrite)
		}
		steps = append(steps, func() error {
			_, err := admin.RoleGrantPermission(ctx, "agent-web1", p.Key, "", perm)
			return err
		})
	}
	steps = append(steps,
		func() error { _, err := admin.UserAdd(ctx, "web1", "s3cret-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "web1", "agent-web1"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	)
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}
}

func authClient(t *testing.T, e *testenv.Etcd, user string, password conf.Secret) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(conf.Etcd{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second, Username: user, Password: password})
	if err != nil {
		t.Fatalf("NewClient(%s): %v", user, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func TestNewClientWithAuthStartsWhileEtcdDown(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	admin := e.Client(t)
	log, _ := testLogger(t)
	rev1 := put(t, admin, testKey, cfg("a"))
	enableAuth(t, admin)
	e.Stop()

	// The password comes from a file, as a site would configure it.
	pwFile := filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// etcd stays down until NewClient returned: one that authenticated at
	// construction, as clientv3 does, would fail here.
	cli := authClient(t, e, "web1", conf.Secret("file:"+pwFile))
	ch := runSource(t, NewSource(cli, []string{testKey}, log))
	f := newFakeAgent()
	runPublisher(t, NewStatusPublisher(cli, statusKey, log, TTL(5*time.Second), MinInterval(50*time.Millisecond), CheckInterval(10*time.Millisecond)), f)

	e.Restart(t)
	if u := next(t, ch, 15*time.Second); u.Revision != rev1 || topicOf(t, u) != "a" {
		t.Fatalf("update = %+v, want revision %d", u, rev1)
	}
	root := authClient(t, e, "root", "rootpw")
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := root.Get(opCtx(t), statusKey)
		return err == nil && len(resp.Kvs) == 1
	}, "status not published with the agent's limited role")

	// A restart invalidates etcd's simple tokens: the watch, the keepalive
	// and plain requests must all pick up a fresh one.
	e.Restart(t)
	rev2 := put(t, root, testKey, cfg("b"))
	if got := until(t, ch, rev2, 15*time.Second); len(got) != 1 || topicOf(t, got[0]) != "b" {
		t.Fatalf("after restart got revisions %v, want just %d", revs(got), rev2)
	}
	f.set(func(s *collect.Status) { s.Version = "after-restart" })
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := root.Get(opCtx(t), statusKey)
		return err == nil && len(resp.Kvs) == 1 && strings.Contains(string(resp.Kvs[0].Value), "after-restart")
	}, "status not rewritten after a restart invalidated the token")
}

func TestNewClientWrongPassword(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	enableAuth(t, e.Client(t))

	cli := authClient(t, e, "web1", "not-the-password")
	_, err := cli.Get(opCtx(t), testKey)
	if err == nil {
		t.Fatal("Get with a wrong password succeeded")
	}
	if !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("error %q does not say authentication failed", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("error %q contains the password", err)
	}
	// The role must not reach beyond its own keys.
	good := authClient(t, e, "web1", "s3cret-pw")
	if _, err := good.Get(opCtx(t), testKey); err != nil {
		t.Errorf("Get own key: %v", err)
	}
	if _, err := good.Get(opCtx(t), "/logagent/web2/collect_config"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Get another host's key: %v, want permission denied", err)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		c    conf.Etcd
		want string
	}{
		{"no endpoints", conf.Etcd{}, "no endpoints"},
		{"password env missing", conf.Etcd{Endpoints: []string{"127.0.0.1:1"}, Username: "u", Password: "env:LOGAGENT_TEST_SURELY_UNSET"}, "etcd.password: environment variable LOGAGENT_TEST_SURELY_UNSET is not set"},
		{"tls ca missing", conf.Etcd{Endpoints: []string{"127.0.0.1:1"}, TLS: conf.TLS{Enabled: true, CAFile: "/nonexistent/ca.pem"}}, "etcd.tls: ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cli, err := NewClient(tc.c)
			if err == nil {
				_ = cli.Close()
				t.Fatal("NewClient succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestNewClientCredentialsWithAuthDisabled(t *testing.T) {
	t.Parallel()
	e := testenv.StartEtcd(t)
	// A site may configure credentials before it turns etcd auth on.
	cli := authClient(t, e, "web1", "s3cret-pw")
	if _, err := cli.Put(opCtx(t), testKey, cfg("a")); err != nil {
		t.Fatalf("Put with credentials on an etcd without auth: %v", err)
	}
}
