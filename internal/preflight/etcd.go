package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// etcd reads the host's collect config as the agent does and validates
// it. It returns the config's topics, and whether they are known (the key
// was read and is valid, or is not set).
func (r *report) etcd(ctx context.Context, cfg *conf.Agent) (topics []string, known bool) {
	key := etcd.CollectKey(cfg.Etcd.Prefix, cfg.HostID)
	where := describeEtcd(cfg.Etcd)
	cli, err := etcd.NewClient(cfg.Etcd)
	if err != nil {
		r.fail("etcd", fmt.Errorf("%s: %w", where, err))
		return nil, false
	}
	defer cli.Close()
	// gRPC retries an unreachable endpoint or a failing TLS handshake
	// until the deadline: allow it two connection attempts.
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.Etcd.DialTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		r.fail("etcd", fmt.Errorf("%s: read %s: %w", where, key, explainTimeout(ctx, err)))
		return nil, false
	}
	if len(resp.Kvs) == 0 {
		r.ok("etcd", "%s: %s is not set: the agent collects nothing until it is (logctl collect add)", where, key)
		return nil, true
	}
	kv := resp.Kvs[0]
	entries, err := collect.ParseCollectConfig(kv.Value)
	if err != nil {
		r.ok("etcd", "%s: read %s (revision %d)", where, key, kv.ModRevision)
		r.fail("collect config", fmt.Errorf("%s revision %d is rejected, the agent keeps its last good config: %w", key, kv.ModRevision, err))
		return nil, false
	}
	topics = collect.Topics(entries)
	r.ok("etcd", "%s: read %s (revision %d): entries %d, topics %v", where, key, kv.ModRevision, len(entries), topics)
	if outside := disallowed(entries, cfg.Files); len(outside) > 0 {
		r.warn("collect config", "%s names files outside files.allowed_paths, which the agent does not read: %s", key, strings.Join(outside, ", "))
	}
	return topics, true
}

// disallowed lists the entries' file paths that files.allowed_paths
// refuses. A glob's files are known only when the agent expands it.
func disallowed(entries []collect.Entry, f conf.Files) []string {
	var out []string
	for _, e := range entries {
		if !e.IsGlob() && !f.Allows(e.Path) {
			out = append(out, e.Path)
		}
	}
	return out
}

// describeEtcd names the endpoints and how the agent authenticates.
func describeEtcd(c conf.Etcd) string {
	var how []string
	if c.TLS.Enabled {
		how = append(how, "TLS")
	}
	if c.Username != "" {
		how = append(how, "user "+c.Username)
	}
	s := strings.Join(conf.RedactURLs(c.Endpoints), ",")
	if len(how) > 0 {
		s += " (" + strings.Join(how, ", ") + ")"
	}
	return s
}

// explainTimeout says what a request that ran out of time most likely met.
func explainTimeout(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("no answer in time (endpoint unreachable, or the TLS handshake failing; the agent would keep retrying): %w", err)
}
