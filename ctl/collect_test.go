package ctl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestConcurrentEditIsNotOverwritten has a second operator write between
// logctl's read and its write: the write is refused, the other edit stays.
func TestConcurrentEditIsNotOverwritten(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	ctx := ctxT(t)
	key := etcd.CollectKey("/logagent/", "web1")
	if _, err := cli.Put(ctx, key, `[{"path":"/var/log/a.log","topic":"web_log"}]`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := NewCollect(cli, "/logagent/", 5*time.Second, &out)
	other := `[{"path":"/var/log/other.log","topic":"web_log"}]`
	err := c.Add(ctx, collect.HostLayer("web1"), []byte(`{"path":"/var/log/b.log","topic":"web_log"}`), WriteOptions{
		Confirm: func() bool { // the other operator writes while this one reads the diff
			if _, err := cli.Put(ctx, key, other); err != nil {
				t.Error(err)
			}
			return true
		},
	})
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "changed while you edited it") {
		t.Fatalf("got %v, want a ConflictError", err)
	}
	resp, err := cli.Get(ctx, key)
	if err != nil || string(resp.Kvs[0].Value) != other {
		t.Fatalf("the concurrent edit was overwritten: %s %v", resp.Kvs[0].Value, err)
	}
	if conflict.Current != resp.Kvs[0].ModRevision {
		t.Errorf("conflict names revision %d, key is at %d", conflict.Current, resp.Kvs[0].ModRevision)
	}

	// Creating a key someone else created meanwhile is a conflict too.
	err = c.Set(ctx, collect.HostLayer("web2"), []byte(`[]`), WriteOptions{Confirm: func() bool {
		_, _ = cli.Put(ctx, etcd.CollectKey("/logagent/", "web2"), other)
		return true
	}})
	if !errors.As(err, &conflict) || conflict.Read != 0 {
		t.Fatalf("create race: %v", err)
	}

	// Declining at the prompt writes nothing.
	if err := c.Set(ctx, collect.HostLayer("web3"), []byte(`[]`), WriteOptions{Confirm: func() bool { return false }}); !errors.Is(err, ErrCancelled) {
		t.Fatalf("declined: %v", err)
	}
}

func TestHostNamesCannotEscapeTheirKey(t *testing.T) {
	for _, h := range []string{"", "a/b", "../x", "a b"} {
		if err := checkHost(h); err == nil {
			t.Errorf("host %q accepted", h)
		}
	}
	if err := checkHost("web-1.example.com"); err != nil {
		t.Error(err)
	}
}

func TestLineDiff(t *testing.T) {
	if d := lineDiff("a\nb\n", "a\nb\n"); d != "" {
		t.Fatalf("equal: %q", d)
	}
	got := lineDiff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\neleven\n")
	want := " 1\n 2\n-3\n+three\n 4\n 5\n 6\n@@\n 8\n 9\n 10\n+eleven\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := lineDiff("", "[]\n"); got != "+[]\n" {
		t.Fatalf("from nothing: %q", got)
	}
}
