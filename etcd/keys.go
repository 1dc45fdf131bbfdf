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

// normPrefix makes a non-empty prefix end in "/", so "/logagent" and
// "/logagent/" name the same keys.
func normPrefix(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}
