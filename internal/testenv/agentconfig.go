package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// WriteAgentConfig writes dir/agent.yaml for a logagent process under test:
// host id host, state in dir/state, no HTTP listener, the given broker and
// etcd endpoint, and file timings short enough for tests. It returns the
// file's path.
func WriteAgentConfig(t testing.TB, dir, host, broker, etcdEndpoint string) string {
	t.Helper()
	yaml := fmt.Sprintf(`host_id: %s
state_dir: %s
http_listen: "off"
kafka:
  brokers: [%q]
etcd:
  endpoints: [%q]
files:
  rescan_interval: 200ms
  poll_interval: 20ms
  flush_interval: 100ms
  shutdown_timeout: 10s
`, host, filepath.Join(dir, "state"), broker, etcdEndpoint)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatalf("testenv: write agent config: %v", err)
	}
	return path
}
