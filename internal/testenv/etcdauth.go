package testenv

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdRootPassword is the root user's password after EnableAuth.
const etcdRootPassword = "testenv-root-pw"

// EtcdUser is a user EnableAuth creates, with a role of its own (named
// after the user) that may read the Read keys and write the Write keys
// (exact keys, not prefixes).
type EtcdUser struct {
	Name, Password string
	Read, Write    []string
}

// EnableAuth creates a root user and users, then turns etcd authentication
// on. Clients made by Client before it stop working; those made after log
// in as root.
func (e *Etcd) EnableAuth(t testing.TB, users ...EtcdUser) {
	t.Helper()
	admin := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", etcdRootPassword); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
	}
	for _, u := range users {
		steps = append(steps,
			func() error { _, err := admin.RoleAdd(ctx, u.Name); return err },
			func() error { _, err := admin.UserAdd(ctx, u.Name, u.Password); return err },
			func() error { _, err := admin.UserGrantRole(ctx, u.Name, u.Name); return err })
		for _, k := range u.Read {
			steps = append(steps, grant(ctx, admin, u.Name, k, clientv3.PermissionType(clientv3.PermRead)))
		}
		for _, k := range u.Write {
			steps = append(steps, grant(ctx, admin, u.Name, k, clientv3.PermissionType(clientv3.PermWrite)))
		}
	}
	steps = append(steps, func() error { _, err := admin.AuthEnable(ctx); return err })
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("testenv: etcd auth setup step %d: %v", i, err)
		}
	}
	e.mu.Lock()
	e.rootPassword = etcdRootPassword
	e.mu.Unlock()
}

func grant(ctx context.Context, admin *clientv3.Client, role, key string, perm clientv3.PermissionType) func() error {
	return func() error {
		_, err := admin.RoleGrantPermission(ctx, role, key, "", perm)
		return err
	}
}
