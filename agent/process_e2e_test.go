//go:build e2e

package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logagent/logagent/internal/testenv"
)

// buildAgent compiles cmd/logagent once per test binary.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "logagent")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/logagent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build logagent: %v\n%s", err, out)
	}
	return bin
}

// agentProcess is logagent running as a child process.
type agentProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited; then err is set
	err    error
}

func startAgentProcess(t *testing.T, bin, configPath string) *agentProcess {
	t.Helper()
	cmd := exec.Command(bin, "-config", configPath)
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(configPath), "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProcess{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.exited })
	return p
}

func writeAgentYAML(t *testing.T, s *stack, dir string) string {
	t.Helper()
	yaml := fmt.Sprintf(`host_id: e2e-host
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
`, filepath.Join(dir, "state"), s.kafka.Brokers()[0], s.etcd.Endpoints()[0])
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
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
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
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
// acked and saved, so a restart ships nothing twice.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	s := newStack(t)
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath := writeAgentYAML(t, s, dir)
	log := filepath.Join(dir, "app.log")
	s.putConfig(t, configJSON(entry(log, "web_log")))
	want := appendLines(t, log, "t", 0, 20000)
	p := startAgentProcess(t, bin, cfgPath)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 20000 }, "all lines shipped")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20s of SIGTERM")
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
