package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// etcdTimeout bounds every etcd request logdemo makes.
const etcdTimeout = 5 * time.Second

// demoConfig is the collect config the demo seeds: the sample log, nginx
// timestamps, one static field.
func demoConfig(accessLog string, env string) ([]byte, error) {
	entries := []etcd.Entry{{
		Path:      accessLog,
		Topic:     topic,
		Timestamp: etcd.TimestampNginx,
		Fields:    map[string]string{"env": env},
	}}
	b, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encode collect config: %w", err)
	}
	// The same validation the agent applies: a demo that seeds a config the
	// agent rejects would show nothing at all.
	if _, err := etcd.ParseCollectConfig(b); err != nil {
		return nil, fmt.Errorf("demo collect config is invalid: %w", err)
	}
	return b, nil
}

func newEtcdClient(endpoints []string) (*clientv3.Client, error) {
	return etcd.NewClient(conf.Etcd{Endpoints: endpoints, DialTimeout: etcdTimeout})
}

// putCollectConfig writes the collect config key and returns its revision.
func putCollectConfig(ctx context.Context, cli *clientv3.Client, value []byte) (int64, error) {
	key := etcd.CollectKey(etcdPrefix, hostID)
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	resp, err := cli.Put(ctx, key, string(value))
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return resp.Header.Revision, nil
}

// ctlEndpoints finds the running demo's etcd: from devstack's ready file
// under -data (right even when the demo was started with other ports), else
// the -etcd-port flag.
func ctlEndpoints(o options) ([]string, error) {
	l, err := newLayout(o.dataDir)
	if err != nil {
		return nil, err
	}
	if vars, err := readReady(l.readyFile); err == nil && vars["ETCD_ENDPOINTS"] != "" {
		return strings.Split(vars["ETCD_ENDPOINTS"], ","), nil
	}
	return []string{fmt.Sprintf("127.0.0.1:%d", o.etcdPort)}, nil
}

// notRunning wraps an etcd error with what the user most likely has to do.
func notRunning(endpoints []string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("etcd at %s does not answer; is the demo running? (start it with `make demo`): %w",
			strings.Join(endpoints, ","), err)
	}
	return err
}

// showStatus prints the collect config and the agent's status key.
func showStatus(o options) error {
	endpoints, err := ctlEndpoints(o)
	if err != nil {
		return err
	}
	cli, err := newEtcdClient(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
	defer cancel()

	collectKey, statusKey := etcd.CollectKey(etcdPrefix, hostID), etcd.StatusKey(etcdPrefix, hostID)
	// One transaction: both keys at the same revision.
	resp, err := cli.Txn(ctx).Then(clientv3.OpGet(collectKey), clientv3.OpGet(statusKey)).Commit()
	if err != nil {
		return notRunning(endpoints, fmt.Errorf("read %s and %s: %w", collectKey, statusKey, err))
	}
	collect, status := resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange()

	if len(collect.Kvs) == 0 {
		fmt.Printf("%s: not set\n", collectKey)
	} else {
		kv := collect.Kvs[0]
		fmt.Printf("%s (revision %d):\n%s\n", collectKey, kv.ModRevision, indentJSON(kv.Value))
	}
	if len(status.Kvs) == 0 {
		return fmt.Errorf("%s: not set; the agent writes it when it starts and it expires ~30 s after the agent stops. Is the demo running?", statusKey)
	}
	fmt.Printf("%s:\n%s\n", statusKey, indentJSON(status.Kvs[0].Value))
	// Decode to flag what people look for first: was the latest config taken?
	var st etcd.Status
	if err := json.Unmarshal(status.Kvs[0].Value, &st); err != nil {
		return fmt.Errorf("%s is not a status: %w", statusKey, err)
	}
	if !st.UpdatedAt.IsZero() {
		fmt.Printf("(written %v ago; the agent rewrites it on change, at most every 10 s)\n",
			time.Since(st.UpdatedAt).Round(time.Second))
	}
	if st.Config.RejectedRevision > 0 {
		fmt.Printf("\nthe agent REJECTED revision %d and keeps running revision %d: %s\n",
			st.Config.RejectedRevision, st.Config.AppliedRevision, st.Config.RejectReason)
	}
	return nil
}

// setConfig validates a collect config as the agent would and puts it.
func setConfig(o options) error {
	value := []byte(o.setConfig)
	entries, err := etcd.ParseCollectConfig(value)
	if err != nil {
		var ce *etcd.ConfigError
		if errors.As(err, &ce) {
			return fmt.Errorf("collect config not set, it is invalid:\n  %s", strings.Join(ce.Problems, "\n  "))
		}
		return fmt.Errorf("collect config not set, it is invalid: %w", err)
	}
	endpoints, err := ctlEndpoints(o)
	if err != nil {
		return err
	}
	cli, err := newEtcdClient(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	rev, err := putCollectConfig(context.Background(), cli, value)
	if err != nil {
		return notRunning(endpoints, err)
	}
	fmt.Printf("put %s at revision %d (%d entries); the agent applies it within a second or so.\n",
		etcd.CollectKey(etcdPrefix, hostID), rev, len(entries))
	for _, e := range entries {
		if e.Topic != topic {
			fmt.Printf("note: entry %q ships to topic %q; the demo's progress line counts only %s.\n", e.Path, e.Topic, topic)
		}
		if _, err := os.Stat(e.Path); err != nil && !e.IsGlob() {
			fmt.Printf("note: %s does not exist (yet); the agent picks it up when it appears.\n", e.Path)
		}
	}
	fmt.Printf("check: %s\n", ctlCommand(o, "-status"))
	return nil
}

// ctlCommand is the command line that reaches this demo with extra flags,
// carrying over the flags that locate it.
func ctlCommand(o options, args ...string) string {
	parts := []string{"go run ./cmd/logdemo"}
	if o.dataDir != ".demo" {
		parts = append(parts, "-data", shellQuote(o.dataDir))
	}
	return strings.Join(append(parts, args...), " ")
}

func indentJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "  ", "  "); err != nil {
		return "  " + string(b)
	}
	return "  " + out.String()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
