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

// commonConfig is the demo's _common layer, what every host would take: the
// access log, its lines stamped when read, and the application log.
func commonConfig(accessLog, appLog string) ([]byte, error) {
	return encodeConfig([]collect.Entry{{Path: accessLog, Topic: topic}, {Path: appLog, Topic: appTopic}})
}

// demoConfig is the demo host's own layer: it overrides the common entry
// (same path) with nginx timestamps and one static field.
func demoConfig(accessLog string, env string) ([]byte, error) {
	return encodeConfig([]collect.Entry{{
		Path:      accessLog,
		Topic:     topic,
		Timestamp: collect.Timestamp{Format: collect.TimestampNginx},
		Fields:    map[string]string{"env": env},
	}})
}

func encodeConfig(entries []collect.Entry) ([]byte, error) {
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

// putLayer writes a layer of collect config and returns its revision.
func putLayer(ctx context.Context, cli *clientv3.Client, l collect.Layer, value []byte) (int64, error) {
	key := etcd.LayerKey(etcdPrefix, l)
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	resp, err := cli.Put(ctx, key, string(value))
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return resp.Header.Revision, nil
}
