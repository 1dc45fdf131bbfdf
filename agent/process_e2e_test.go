//go:build e2e

package agent_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/internal/testenv"
)

func buildAgent(t *testing.T) string { return testenv.Build(t, "./cmd/logagent") }

func startAgentProcess(t *testing.T, bin, configPath string) *testenv.Process {
	t.Helper()
	return testenv.StartProcess(t, filepath.Join(filepath.Dir(configPath), "agent.log"), bin, "-config", configPath)
}

func writeAgentYAML(t *testing.T, s *stack, dir string) string {
	t.Helper()
	return testenv.WriteAgentConfig(t, dir, "e2e-host", s.kafka.Brokers()[0], s.etcd.Endpoints()[0])
}

// TestKill9MidStream kills the agent process with SIGKILL while a writer
// appends; after a restart every line is in Kafka at least once, and a line
// shipped twice keeps its event id.
func TestKill9MidStream(t *testing.T) {
	s := newStack(t)
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath := writeAgentYAML(t, s, dir)
	log := filepath.Join(dir, "app.log")
	s.putConfig(t, configJSON(entry(log, "web_log")))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	written := make(chan []string, 1)
	go func() { // about 20k lines/s for 3 s
		var all []string
		for i := 0; i < 60 && ctx.Err() == nil; i++ {
			all = append(all, appendLines(t, log, "k", i*1000, (i+1)*1000)...)
			time.Sleep(50 * time.Millisecond) // pacing the writer, not synchronisation
		}
		written <- all
	}()
	p := startAgentProcess(t, bin, cfgPath)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 15000 }, "agent shipping")
	p.Kill9(t)
	atKill := s.kafka.Count(t, "web_log")
	startAgentProcess(t, bin, cfgPath)
	want := <-written
	testenv.Eventually(t, 60*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= int64(len(want)) }, "all lines after restart")
	got := messagesIn(t, s.kafka, "web_log")
	requireAll(t, got, want)
	dups := 0
	for _, ids := range got {
		dups += len(ids) - 1
	}
	t.Logf("killed at %d records; %d lines written; %d re-shipped after the kill (same ids)", atKill, len(want), dups)
}

// TestSIGTERMDrainsAndExitsZero: a graceful stop exits 0 with everything
// acked and saved, so a restart ships nothing twice. The first run also
// writes a CPU profile (-cpuprofile), complete once the process has exited.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	s := newStack(t)
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath := writeAgentYAML(t, s, dir)
	log := filepath.Join(dir, "app.log")
	s.putConfig(t, configJSON(entry(log, "web_log")))
	want := appendLines(t, log, "t", 0, 20000)
	profile := filepath.Join(dir, "cpu.pprof")
	p := testenv.StartProcess(t, filepath.Join(dir, "agent.log"), bin, "-config", cfgPath, "-cpuprofile", profile)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 20000 }, "all lines shipped")
	if err := p.Terminate(t, 20*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if b, err := os.ReadFile(profile); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("-cpuprofile: want a gzipped pprof profile, got %d bytes, %v", len(b), err)
	}
	more := appendLines(t, log, "t", 20000, 20100)
	startAgentProcess(t, bin, cfgPath)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 20100 }, "new lines after restart")
	got := messagesIn(t, s.kafka, "web_log")
	requireAll(t, got, append(want, more...))
	if n := s.kafka.Count(t, "web_log"); n != 20100 {
		t.Fatalf("%d records for 20100 lines: a graceful restart re-shipped lines", n)
	}
}

// TestCheckFlag: -check accepts a valid file and names the field of an
// invalid one, exiting 1.
func TestCheckFlag(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("host_id: h\nkafka:\n  brokers: [\"k:9092\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("host_id: h\nkafka:\n  brokers: [\"k:9092\"]\n  compression: brotli\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-check", "-config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("valid config: %v %s", err, out)
	}
	out, err = exec.Command(bin, "-check", "-config", bad).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "kafka.compression") {
		t.Fatalf("invalid config: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "-version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "logagent ") {
		t.Fatalf("-version: %v %s", err, out)
	}
}

// TestSystemdNotify runs the agent as systemd would run a Type=notify unit
// with WatchdogSec: READY once the collect config from etcd is applied,
// watchdog pings while it runs, STOPPING on SIGTERM and exit 0.
func TestSystemdNotify(t *testing.T) {
	s := newStack(t)
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath := writeAgentYAML(t, s, dir)
	s.putConfig(t, configJSON(entry(filepath.Join(dir, "app.log"), "web_log")))
	notify := testenv.ListenNotify(t, time.Second)
	p := startAgentProcess(t, bin, cfgPath)
	if msg, _ := notify.Expect(t, "READY=1", 20*time.Second); !strings.Contains(msg, "STATUS=shipping") {
		t.Fatalf("READY without a status: %q", msg)
	}
	notify.Expect(t, "WATCHDOG=1", 5*time.Second)
	notify.Expect(t, "WATCHDOG=1", 5*time.Second)
	if err := p.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	notify.Expect(t, "STOPPING=1", 5*time.Second)
}
