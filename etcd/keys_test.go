package etcd

import "testing"

func TestKeys(t *testing.T) {
	for _, prefix := range []string{"/logagent/", "/logagent"} {
		if got, want := CollectKey(prefix, "web1"), "/logagent/web1/collect_config"; got != want {
			t.Errorf("CollectKey(%q) = %q, want %q", prefix, got, want)
		}
		if got, want := StatusKey(prefix, "10.0.0.7"), "/logagent/10.0.0.7/status"; got != want {
			t.Errorf("StatusKey(%q) = %q, want %q", prefix, got, want)
		}
	}
}
