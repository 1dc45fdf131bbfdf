package etcd

import (
	"strings"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
)

// Key suffixes under <prefix><host>/.
const (
	collectSuffix = "/collect_config"
	statusSuffix  = "/status"
)

// CollectKey is the key holding host's collect config:
// <prefix><host>/collect_config. A prefix without a trailing "/" gets one.
func CollectKey(prefix, host string) string {
	return normPrefix(prefix) + host + collectSuffix
}

// LayerKey is the key holding a layer of collect config:
// <prefix>_common/collect_config, <prefix>_groups/<group>/collect_config or
// <prefix><host>/collect_config.
func LayerKey(prefix string, l collect.Layer) string {
	return normPrefix(prefix) + l.String() + collectSuffix
}

// LayerOfKey returns the layer whose key is key.
func LayerOfKey(prefix, key string) (collect.Layer, bool) {
	rest, ok := strings.CutPrefix(key, normPrefix(prefix))
	if !ok {
		return collect.Layer{}, false
	}
	name, ok := strings.CutSuffix(rest, collectSuffix)
	if !ok {
		return collect.Layer{}, false
	}
	l, err := collect.ParseLayerName(name)
	return l, err == nil
}

// StatusKey is the key where host's agent publishes its status:
// <prefix><host>/status. A prefix without a trailing "/" gets one.
func StatusKey(prefix, host string) string {
	return normPrefix(prefix) + host + statusSuffix
}

// HostOfCollectKey returns <host> of a key <prefix><host>/collect_config.
func HostOfCollectKey(prefix, key string) (string, bool) { return hostOf(prefix, key, collectSuffix) }

// HostOfStatusKey returns <host> of a key <prefix><host>/status.
func HostOfStatusKey(prefix, key string) (string, bool) { return hostOf(prefix, key, statusSuffix) }

func hostOf(prefix, key, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(key, normPrefix(prefix))
	if !ok {
		return "", false
	}
	host, ok := strings.CutSuffix(rest, suffix)
	return host, ok && conf.ValidateHostID(host) == nil
}

// normPrefix makes a non-empty prefix end in "/", so "/logagent" and
// "/logagent/" name the same keys.
func normPrefix(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}

// Permission is one key an agent's etcd role needs.
type Permission struct {
	Key   string
	Write bool // false: read only
}

// AgentPermissions is the least privilege an agent needs on an etcd with
// auth on: read (and watch) the layers of its collect config (_common, its
// groups, its own), write its status. Lease grants need no key permission.
// logctl etcd-roles prints them as etcdctl commands; the auth tests grant
// exactly these.
func AgentPermissions(prefix, host string, groups []string) []Permission {
	var out []Permission
	for _, l := range collect.LayersOf(host, groups) {
		out = append(out, Permission{Key: LayerKey(prefix, l)})
	}
	return append(out, Permission{Key: StatusKey(prefix, host), Write: true})
}
