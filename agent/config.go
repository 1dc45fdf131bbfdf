package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
)

// cachedConfigFile keeps every layer's version in force beside the registry,
// so a start with etcd down runs the config the agent last ran.
const cachedConfigFile = "collect_config.json"

// layeredConfig is the agent's collect config: the layers it takes (_common,
// its groups, its own) and what of each is in force. It applies etcd's
// updates to the manager and caches them.
type layeredConfig struct {
	prefix   string
	cacheAt  string
	mgr      *Manager
	metrics  *Metrics
	log      *slog.Logger
	onChange func() // after the first decision (applied or rejected)

	mu        sync.Mutex
	stack     *collect.Stack
	fromCache bool
}

func newLayeredConfig(prefix, host string, groups []string, stateDir string, mgr *Manager, m *Metrics, log *slog.Logger, decided func()) *layeredConfig {
	return &layeredConfig{
		prefix: prefix, cacheAt: filepath.Join(stateDir, cachedConfigFile), mgr: mgr, metrics: m, log: log, onChange: decided,
		stack: collect.NewStack(collect.LayersOf(host, groups)),
	}
}

// keys are the etcd keys of the layers, in merge order.
func (c *layeredConfig) keys() []string {
	var out []string
	for _, l := range c.stack.Layers() {
		out = append(out, etcd.LayerKey(c.prefix, l))
	}
	return out
}

// cachedLayer is one layer in the cache file.
type cachedLayer struct {
	Layer    string          `json:"layer"`
	Revision int64           `json:"revision"`
	Value    json.RawMessage `json:"value"` // null: the key was missing
}

// loadCache applies the cached layers, if there are any.
func (c *layeredConfig) loadCache() {
	b, err := os.ReadFile(c.cacheAt)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var versions []collect.Version
	if err == nil {
		layers := c.stack.Layers()
		versions, err = decodeCache(b, layers[len(layers)-1])
	}
	if err != nil {
		c.log.Warn("ignoring the cached collect config", "error", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.stack.Apply(versions) {
		c.log.Warn("ignoring a cached layer of collect config", "layer", r.Layer, "error", r.Reason)
	}
	if !c.stack.Known() {
		return
	}
	c.fromCache = true
	effective := c.stack.Effective()
	c.mgr.Apply(collect.Plain(effective))
	c.onChange()
	c.log.Info("running on the cached collect config until etcd answers", "entries", len(effective))
}

// decodeCache reads the cache file: the layers, or, written by an agent from
// before there were layers, the host's config alone.
func decodeCache(b []byte, host collect.Layer) ([]collect.Version, error) {
	if _, err := collect.ParseCollectConfig(b); err == nil {
		return []collect.Version{{Layer: host, Raw: b}}, nil
	}
	var layers []cachedLayer
	if err := json.Unmarshal(b, &layers); err != nil {
		return nil, fmt.Errorf("%s: %w", cachedConfigFile, err)
	}
	out := make([]collect.Version, 0, len(layers))
	for _, cl := range layers {
		l, err := collect.ParseLayerName(cl.Layer)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %q: %w", cachedConfigFile, cl.Layer, err)
		}
		v := collect.Version{Layer: l, Revision: cl.Revision}
		if string(cl.Value) != "null" && cl.Value != nil {
			v.Raw = cl.Value
		}
		out = append(out, v)
	}
	return out, nil
}

// apply takes etcd's updates of the layers' keys: it applies what is valid,
// reports what is not, and caches the layers in force.
func (c *layeredConfig) apply(updates []etcd.Update) {
	versions := make([]collect.Version, 0, len(updates))
	for _, u := range updates {
		l, ok := etcd.LayerOfKey(c.prefix, u.Key)
		if !ok {
			continue
		}
		versions = append(versions, collect.Version{Layer: l, Revision: u.Revision, Raw: u.Value})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.onChange()
	rejected := c.stack.Apply(versions)
	for _, r := range rejected {
		c.metrics.ConfigRejections.Inc()
		c.log.Error("collect config layer rejected; its last good version keeps running",
			"layer", r.Layer, "revision", r.Revision, "error", r.Reason)
	}
	if len(rejected) == len(versions) {
		return
	}
	c.fromCache = false
	effective := c.stack.Effective()
	c.mgr.Apply(collect.Plain(effective))
	c.metrics.ConfigReloads.Inc()
	c.metrics.ConfigRevision.Set(float64(newestRevision(c.stack.InForce())))
	c.log.Info("collect config applied", "layers", layerRevisions(c.stack.Status()), "entries", len(effective))
	if err := c.writeCache(); err != nil {
		c.log.Warn("could not cache the collect config", "error", err)
	}
}

func (c *layeredConfig) writeCache() error {
	var layers []cachedLayer
	for _, v := range c.stack.InForce() {
		cl := cachedLayer{Layer: v.Layer.String(), Revision: v.Revision, Value: json.RawMessage("null")}
		if v.Raw != nil {
			cl.Value = v.Raw
		}
		layers = append(layers, cl)
	}
	b, err := json.Marshal(layers)
	if err != nil {
		return err
	}
	return writeFileAtomic(c.cacheAt, b)
}

// status is the config part of the status key. The top-level revisions are
// the host layer's, as before there were layers.
func (c *layeredConfig) status() collect.ConfigStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	layers := c.stack.Status()
	host := layers[len(layers)-1]
	return collect.ConfigStatus{
		AppliedRevision: host.AppliedRevision, RejectedRevision: host.RejectedRevision, RejectReason: host.RejectReason,
		Layers: layers, FromCache: c.fromCache,
	}
}

func newestRevision(vs []collect.Version) int64 {
	var n int64
	for _, v := range vs {
		n = max(n, v.Revision)
	}
	return n
}

// layerRevisions is "layer=revision" of every layer in force, for a log line.
func layerRevisions(ls []collect.LayerStatus) []string {
	var out []string
	for _, l := range ls {
		if l.Applied {
			out = append(out, fmt.Sprintf("%s=%d", l.Layer, l.AppliedRevision))
		}
	}
	return out
}
