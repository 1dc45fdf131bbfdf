//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logagent/logagent/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCheckConnect: -check -connect reaches Kafka and the engine, exit 0;
// a wrong engine password fails it, exit 1, without showing a password.
func TestCheckConnect(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"))
	z := testenv.StartZinc(t)
	bin := testenv.Build(t, "./cmd/logtransfer")
	write := func(password string) string {
		cfg := filepath.Join(t.TempDir(), "transfer.yaml")
		body := fmt.Sprintf("kafka:\n  brokers: [%q]\nelasticsearch:\n  urls: [%q]\n  username: %s\n  password: %q\n", k.Brokers()[0], z.URL(), z.User(), password)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	cfg := write(z.Password())
	out, code := testenv.Run(t, bin, "-check", "-connect", "-config", cfg)
	if code != 0 || !strings.Contains(out, "kafka ok: ") || !strings.Contains(out, "elasticsearch ok: ") || !strings.Contains(out, cfg+": OK") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	cfg = write("wrong-pw-K9")
	out, code = testenv.Run(t, bin, "-check", "-connect", "-config", cfg)
	if code != 1 || !strings.Contains(out, "elasticsearch FAILED: ") || strings.Contains(out, "wrong-pw-K9") || strings.Contains(out, z.Password()) {
		t.Fatalf("wrong password: exit %d:\n%s", code, out)
	}
}
