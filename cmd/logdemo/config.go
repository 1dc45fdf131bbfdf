package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// etcdTimeout bounds every etcd request logdemo makes.
const etcdTimeout = 5 * time.Second

// demoConfig is the collect config the demo seeds: the sample log, nginx
// timestamps, one static field.
func demoConfig(accessLog string, env string) ([]byte, error) {
	entries := []collect.Entry{{
		Path:      accessLog,
		Topic:     topic,
		Timestamp: collect.TimestampNginx,
		Fields:    map[string]string{"env": env},
	}}
	b, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encode collect config: %w", err)
	}
	// The same validation the agent applies: a demo that seeds a config the
	// agent rejects would show nothing at all.
	if _, err := collect.ParseCollectConfig(b); err != nil {
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
