package etcd

import "strings"

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
	return host, ok && host != "" && !strings.Contains(host, "/")
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
// auth on: read (and watch) its own collect config, write its status. Lease
// grants need no key permission. logctl etcd-roles prints them as etcdctl
// commands; the auth tests grant exactly these.
func AgentPermissions(prefix, host string) []Permission {
	return []Permission{
		{Key: CollectKey(prefix, host)},
		{Key: StatusKey(prefix, host), Write: true},
	}
}
