//go:build e2e

package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// TestKill9MidStream kills the agent with SIGKILL while Kafka holds two
// produce requests unanswered, one per file (each file's topic has its own
// broker), so messages are sent and not acknowledged at the kill. The broker
// writes one request after the kill (only its answer was lost) and never the
// other (lost with the broker's memory). After a restart every line is in
// Kafka, every copy of a line has one id, and the written request's lines
// are there twice: the agent could not know they arrived.
func TestKill9MidStream(t *testing.T) {
	s := newStack(t, testenv.KafkaBrokers(2))
	s.kafka.LeadAll(t, "web_log", 0)
	s.kafka.LeadAll(t, "app_log", 1)
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath := writeAgentYAML(t, s, dir)
	webDir, appDir := filepath.Join(dir, "web"), filepath.Join(dir, "app")
	for _, d := range []string{webDir, appDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	webLog, appLog := filepath.Join(webDir, "access.log"), filepath.Join(appDir, "app.log")
	s.putConfig(t, configJSON(entry(filepath.Join(webDir, "*.log"), "web_log"), entry(filepath.Join(appDir, "*.log"), "app_log")))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan [2][]string, 1)
	go func() { // about 20k lines/s per file for 2 s
		var web, app []string
		for i := 0; i < 40 && ctx.Err() == nil; i++ {
			web = append(web, appendLines(t, webLog, "w", i*1000, (i+1)*1000)...)
			app = append(app, appendLines(t, appLog, "a", i*1000, (i+1)*1000)...)
			time.Sleep(50 * time.Millisecond) // pacing the writer, not synchronisation
		}
		lines <- [2][]string{web, app}
	}()
	p := startAgentProcess(t, bin, cfgPath)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 5000 }, "agent shipping")

	// Each topic has its own broker, so each has a request in flight: one
	// is written after the kill, the other never.
	written, lost := s.kafka.HoldProduce(t, testenv.Carries("web_log", 100)), s.kafka.HoldProduce(t, testenv.Carries("app_log", 100))
	written.Wait(t, 20*time.Second)
	lost.Wait(t, 20*time.Second)
	// Two registry saves after the hold began: whatever the agent counts as
	// delivered by now is on disk when it dies.
	for _, name := range []string{"marker-1.log", "marker-2.log"} {
		marker := filepath.Join(webDir, name)
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, func() bool { _, ok := savedOffsets(t, dir)[marker]; return ok }, "%s in the saved registry", name)
	}
	p.Kill9(t)
	written.Release("web_log")
	lost.Release()
	startAgentProcess(t, bin, cfgPath)

	want := <-lines
	// Done when the agent counts both files as delivered to their ends;
	// then Kafka must hold every line.
	waitAcked(t, dir, webLog, appLog)
	web := messagesIn(t, s.kafka, "web_log")
	requireAll(t, web, want[0])
	requireAll(t, messagesIn(t, s.kafka, "app_log"), want[1])
	twice := 0
	for _, ids := range web {
		if len(ids) > 1 {
			twice++
		}
	}
	if held := written.Records("web_log"); twice < held {
		t.Fatalf("%d web_log lines in Kafka twice, want at least the %d written unacknowledged: the agent took them for delivered", twice, held)
	}
	t.Logf("held %d web_log and %d app_log records at the kill; %d web_log lines re-sent", written.Records("web_log"), lost.Records("app_log"), twice)
}

// TestEventIDsAcrossProcessesAndACopy: lines one agent process shipped
// (Kafka wrote them, its answer was lost in a kill -9) are shipped again by
// a second process on the same state dir, from a copy made while the agent
// was down (copytruncate: the copy app.log.1, matched by app.log*), with the
// ids the first process gave them. The truncated file's new lines get ids
// of their own.
func TestEventIDsAcrossProcessesAndACopy(t *testing.T) {
	s := newStack(t)
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath := writeAgentYAML(t, s, dir)
	log := filepath.Join(dir, "app.log")
	s.putConfig(t, configJSON(entry(log+"*", "web_log")))
	want := appendLines(t, log, "first", 0, 1000)
	p := startAgentProcess(t, bin, cfgPath)
	waitAcked(t, dir, log)

	hold := s.kafka.HoldProduce(t, testenv.Carries("web_log", 100))
	want = append(want, appendLines(t, log, "held", 0, 1000)...)
	hold.Wait(t, 20*time.Second)
	p.Kill9(t)
	hold.Release("web_log")
	copied := log + ".1"
	if out, err := exec.Command("cp", log, copied).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendLines(t, log, "after", 0, 500)...)
	startAgentProcess(t, bin, cfgPath)
	waitAcked(t, dir, log, copied)

	got := messagesIn(t, s.kafka, "web_log")
	requireAll(t, got, want)
	twice, owner := 0, map[string]string{}
	for line, ids := range got {
		if len(ids) > 1 {
			twice++
		}
		if other, ok := owner[ids[0]]; ok {
			t.Fatalf("lines %q and %q share the id %s", other, line, ids[0])
		}
		owner[ids[0]] = line
	}
	if twice < hold.Records("web_log") {
		t.Fatalf("%d lines shipped by both processes, want the %d the first one sent unacknowledged", twice, hold.Records("web_log"))
	}
	t.Logf("%d lines shipped by both processes with the same id", twice)
}

// savedOffsets returns the acknowledged offset of every file in the
// registry the agent saved under dir (state/registry.json), by path.
func savedOffsets(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state", "registry.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Entries []struct {
			Path     string
			Offset   int64
			Detached bool
		}
	}
	if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatalf("registry: %v", err)
	}
	out := map[string]int64{}
	for _, e := range reg.Entries {
		if !e.Detached {
			out[e.Path] = e.Offset
		}
	}
	return out
}

// waitAcked waits until the registry the agent saved under dir has each
// file acknowledged to its current end.
func waitAcked(t *testing.T, dir string, paths ...string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() bool {
		saved := savedOffsets(t, dir)
		for _, p := range paths {
			if saved[p] != fileSize(t, p) {
				return false
			}
		}
		return true
	}, "%v acknowledged to their ends", paths)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
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

// TestSIGHUPReloadsAgentYAML: a real agent process started with a broker
// address nothing listens on. A SIGHUP with a file that does not parse is
// refused and the agent keeps running; one with the right broker (and a
// changed http_listen, which needs a restart) is applied by restarting the
// pipeline in the process; a log level change applies without one. Lines
// written throughout all reach Kafka, copies under one id; SIGTERM exits 0.
func TestSIGHUPReloadsAgentYAML(t *testing.T) {
	s := newStack(t)
	bin := buildAgent(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	s.putConfig(t, configJSON(entry(log, "web_log")))
	nowhere := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := testenv.WriteAgentConfig(t, dir, "e2e-host", nowhere, s.etcd.Endpoints()[0])
	p := startAgentProcess(t, bin, cfgPath)
	want := appendLines(t, log, "before", 0, 500)
	p.WaitLog(t, "Kafka not reachable yet", 1)

	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile := func(content string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("kafka: [not, a, map\n")
	p.Reload(t)
	p.WaitLog(t, "config reload rejected", 1)
	want = append(want, appendLines(t, log, "rejected", 0, 500)...)

	fixed := strings.Replace(string(good), nowhere, s.kafka.Brokers()[0], 1)
	writeFile(strings.Replace(fixed, `http_listen: "off"`, `http_listen: "127.0.0.1:1"`, 1))
	p.Reload(t)
	p.WaitLog(t, "reading and shipping again under the reloaded config", 1)
	if text := p.Log(t); !strings.Contains(text, "applied=[kafka]") || !strings.Contains(text, "needs_restart=[http_listen]") {
		t.Fatalf("the reload does not say what it applied and what needs a restart:\n%s", text)
	}
	want = append(want, appendLines(t, log, "reloaded", 0, 500)...)
	testenv.Eventually(t, 60*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= int64(len(want)) }, "every line after the reload")

	writeFile(fixed + "log_level: error\n")
	p.Reload(t)
	p.WaitLog(t, "config reloaded", 2)
	want = append(want, appendLines(t, log, "quiet", 0, 500)...)
	waitAcked(t, dir, log)
	requireAll(t, messagesIn(t, s.kafka, "web_log"), want)
	if strings.Count(p.Log(t), "reading and shipping again") != 1 {
		t.Fatalf("a log level reload restarted the pipeline:\n%s", p.Log(t))
	}
	// At level error, a refused reload's ERROR shows, its INFO line before it
	// does not.
	writeFile("kafka: [not, a, map\n")
	p.Reload(t)
	p.WaitLog(t, "config reload rejected", 2)
	if n := strings.Count(p.Log(t), "reload requested (SIGHUP)"); n != 3 {
		t.Fatalf("%d INFO lines for 4 reloads, want 3: log_level error not applied:\n%s", n, p.Log(t))
	}
	if err := p.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after the reloads and SIGTERM: %v", err)
	}
}
