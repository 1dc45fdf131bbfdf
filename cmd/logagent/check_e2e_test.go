//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logagent/logagent/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCheckConnect: -check -connect reaches etcd and Kafka and says so per
// service, exit 0; a service that does not answer fails it, exit 1; and
// -connect alone is refused.
func TestCheckConnect(t *testing.T) {
	e := testenv.StartEtcd(t)
	k := testenv.StartKafka(t, testenv.Topics("web_log"))
	dir := t.TempDir()
	cfg := testenv.WriteAgentConfig(t, dir, "web1", k.Brokers()[0], e.Endpoints()[0])
	bin := testenv.Build(t, "./cmd/logagent")

	out, code := testenv.Run(t, bin, "-check", "-connect", "-config", cfg)
	if code != 0 || !strings.Contains(out, "etcd ok: ") || !strings.Contains(out, "kafka ok: ") || !strings.Contains(out, cfg+": OK") {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	k.Stop()
	out, code = testenv.Run(t, bin, "-check", "-connect", "-config", cfg)
	if code != 1 || !strings.Contains(out, "etcd ok: ") || !strings.Contains(out, "kafka FAILED: ") || !strings.Contains(out, cfg+": FAILED") {
		t.Fatalf("Kafka stopped: exit %d:\n%s", code, out)
	}
	// Without -connect nothing is reached.
	if out, code := testenv.Run(t, bin, "-check", "-config", cfg); code != 0 || strings.Contains(out, "kafka") {
		t.Fatalf("-check alone: exit %d:\n%s", code, out)
	}
	if out, code := testenv.Run(t, bin, "-connect", "-config", cfg); code != 1 || !strings.Contains(out, "-connect goes with -check") {
		t.Fatalf("-connect alone: exit %d:\n%s", code, out)
	}
}

// TestCheckResolvesSecrets: a secret whose variable is not set fails
// -check, naming the field.
func TestCheckResolvesSecrets(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	body := "host_id: h\nkafka:\n  brokers: [\"127.0.0.1:1\"]\netcd:\n  username: u\n  password: \"env:LOGAGENT_TEST_NOPE_VAR\"\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := testenv.Run(t, testenv.Build(t, "./cmd/logagent"), "-check", "-config", cfg)
	if code != 1 || !strings.Contains(out, "secrets FAILED: etcd.password: environment variable LOGAGENT_TEST_NOPE_VAR is not set") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
