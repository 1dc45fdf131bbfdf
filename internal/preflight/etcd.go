package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// etcd reads the layers of the host's collect config as the agent does and
// validates them, each and merged. It returns the merged config's topics,
// and whether they are known (every layer was read and is valid, or not set).
func (r *report) etcd(ctx context.Context, cfg *conf.Agent) (topics []string, known bool) {
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
	layers := collect.LayersOf(cfg.HostID, cfg.Groups)
	versions, err := etcd.ReadLayers(ctx, cli, cfg.Etcd.Prefix, layers)
	if err != nil {
		r.fail("etcd", fmt.Errorf("%s: %w", where, explainTimeout(ctx, err)))
		return nil, false
	}
	stack := collect.NewStack(layers)
	rejected := stack.Apply(versions)
	entries := collect.Plain(stack.Effective())
	r.ok("etcd", "%s: read %s: entries %d, topics %v", where, describeLayers(versions), len(entries), collect.Topics(entries))
	for _, rj := range rejected {
		r.fail("collect config", fmt.Errorf("%s revision %d is rejected, the agent keeps its last good version: %s",
			etcd.LayerKey(cfg.Etcd.Prefix, rj.Layer), rj.Revision, rj.Reason))
	}
	if len(entries) == 0 && len(rejected) == 0 {
		r.ok("collect config", "no entries: the agent collects nothing until a layer names files (logctl collect add)")
	}
	if outside := disallowed(entries, cfg.Files); len(outside) > 0 {
		r.warn("collect config", "the config names files outside files.allowed_paths, which the agent does not read: %s", strings.Join(outside, ", "))
	}
	return collect.Topics(entries), len(rejected) == 0
}

// describeLayers is "layer rev N" or "layer (not set)" for each layer.
func describeLayers(vs []collect.Version) string {
	var out []string
	for _, v := range vs {
		if v.Raw == nil {
			out = append(out, v.Layer.String()+" (not set)")
		} else {
			out = append(out, fmt.Sprintf("%s rev %d", v.Layer, v.Revision))
		}
	}
	return strings.Join(out, ", ")
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
