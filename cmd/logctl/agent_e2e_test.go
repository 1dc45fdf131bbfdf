//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/ctl"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

// TestOperatorLoop is what an operator does with a running agent: add a
// file with logctl, watch it being shipped in logctl status, then see a
// broken config (written behind logctl's back) reported as rejected while
// the agent keeps shipping.
func TestOperatorLoop(t *testing.T) {
	e := testenv.StartEtcd(t)
	k := testenv.StartKafka(t, testenv.Topics("web_log"))
	dir := t.TempDir()
	agentYAML := testenv.WriteAgentConfig(t, dir, "web1", k.Brokers()[0], e.Endpoints()[0])
	logFile := filepath.Join(dir, "app.log")
	lines := strings.Repeat("a line for the operator loop\n", 100)
	if err := os.WriteFile(logFile, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.StartProcess(t, filepath.Join(dir, "agent.log"), testenv.Build(t, "./cmd/logagent"), "-config", agentYAML)

	l := logctl{t, e}
	l.run("collect", "add", "--host", "web1", "--path", logFile, "--topic", "web_log").must(t)
	testenv.Eventually(t, 30*time.Second, func() bool { return k.Count(t, "web_log") == 100 }, "100 lines in Kafka")

	status := func() ctl.HostStatus {
		var hs []ctl.HostStatus
		r := l.run("status", "--host", "web1", "-o", "json").must(t)
		if err := json.Unmarshal([]byte(r.stdout), &hs); err != nil || len(hs) != 1 {
			t.Fatalf("status json: %v\n%s", err, r.stdout)
		}
		return hs[0]
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		hs := status()
		return hs.State == "ok" && len(hs.Status.Files) == 1 && hs.Status.Files[0].Offset == int64(len(lines)) && hs.Status.Files[0].LagBytes == 0
	}, "logctl status shows the file fully shipped")
	table := l.run("status").must(t).stdout
	if !strings.Contains(table, logFile) || !strings.Contains(table, "web1") {
		t.Fatalf("status table:\n%s", table)
	}

	// A config logctl would refuse, put directly: the agent rejects it and
	// says why, and keeps shipping on the last good one.
	cli := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcd.CollectKey("/logagent/", "web1"), `[{"path":"relative.log","topic":"web_log"}]`); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		hs := status()
		return hs.State == "config-rejected" && strings.Contains(hs.Status.Config.RejectReason, "absolute")
	}, "logctl status shows the rejected config and why")
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "shipped on the last good config")
	f.Close()
	testenv.Eventually(t, 30*time.Second, func() bool { return k.Count(t, "web_log") == 101 }, "the agent still ships")
}

// TestTailFollowsTheAgent: logctl tail shows what a real agent ships, from
// the beginning or live from the end, filtered by host, path and message.
func TestTailFollowsTheAgent(t *testing.T) {
	e := testenv.StartEtcd(t)
	k := testenv.StartKafka(t, testenv.Topics("web_log"))
	dir := t.TempDir()
	agentYAML := testenv.WriteAgentConfig(t, dir, "web1", k.Brokers()[0], e.Endpoints()[0])
	logs := filepath.Join(dir, "logs") // not the agent's own log
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(logs, "a.log"), filepath.Join(logs, "b.log")
	write := func(path, line string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := fmt.Fprintln(f, line); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "INFO a started")
	write(a, "ERROR a failed once")
	write(b, "ERROR b failed")
	write(a, "ERROR a failed twice")
	testenv.StartProcess(t, filepath.Join(dir, "agent.log"), testenv.Build(t, "./cmd/logagent"), "-config", agentYAML)
	l := logctl{t, e}
	l.runStdin(fmt.Sprintf(`[{"path":%q,"topic":"web_log"}]`, filepath.Join(logs, "*.log")), "collect", "set", "--host", "web1", "-f", "-").must(t)
	testenv.Eventually(t, 30*time.Second, func() bool { return k.Count(t, "web_log") == 4 }, "four lines in Kafka")

	broker := k.Brokers()[0]
	r := l.run("tail", "--topic", "web_log", "--brokers", broker, "--from-beginning", "--host", "web1", "--path", "a.log", "--grep", "ERROR", "--limit", "2").must(t)
	got := strings.Split(strings.TrimSpace(r.stdout), "\n")
	slices.Sort(got)
	if want := []string{"web1 " + a + ": ERROR a failed once", "web1 " + a + ": ERROR a failed twice"}; !slices.Equal(got, want) {
		t.Fatalf("tail from the beginning:\n%s\nwant %q", r.stdout, want)
	}

	// Live, from the end: lines written after tail started arrive, as JSON
	// envelopes. Write until tail has one (it starts reading at the end when
	// its partition consumers start).
	done := make(chan result, 1)
	go func() {
		done <- l.run("tail", "--topic", "web_log", "--brokers", broker, "--grep", "live", "-o", "json", "--limit", "1")
	}()
	var live result
	testenv.Eventually(t, 30*time.Second, func() bool {
		select {
		case live = <-done:
			return true
		default:
			write(b, "ERROR live line")
			return false
		}
	}, "tail shows a line written after it started")
	var env struct {
		Message string                `json:"message"`
		Host    struct{ Name string } `json:"host"`
	}
	if live.code != 0 || json.Unmarshal([]byte(strings.TrimSpace(live.stdout)), &env) != nil || env.Message != "ERROR live line" || env.Host.Name != "web1" {
		t.Fatalf("live tail: %+v", live)
	}
}

// TestTraceOneLine follows lines through a real agent, Kafka, a real
// transfer and the search engine: one indexed, one still in Kafka because
// the transfer is stopped, one never written.
func TestTraceOneLine(t *testing.T) {
	e := testenv.StartEtcd(t)
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"), testenv.KafkaPersistent())
	z := testenv.StartZinc(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(logs, "app.log")
	transferYAML := filepath.Join(dir, "transfer.yaml")
	if err := os.WriteFile(transferYAML, []byte(fmt.Sprintf(`kafka: {brokers: [%q]}
topics: [web_log]
session_timeout: 2s
elasticsearch: {urls: [%q], username: %q, password: %q}
batch: {max_docs: 100, max_wait: 100ms}
http_listen: "off"
`, k.Brokers()[0], z.URL(), z.User(), z.Password())), 0o600); err != nil {
		t.Fatal(err)
	}
	agentYAML := testenv.WriteAgentConfig(t, dir, "web1", k.Brokers()[0], e.Endpoints()[0])
	testenv.StartProcess(t, filepath.Join(dir, "agent.log"), testenv.Build(t, "./cmd/logagent"), "-config", agentYAML)
	transfer := testenv.StartProcess(t, filepath.Join(dir, "transfer.log"), testenv.Build(t, "./cmd/logtransfer"), "-config", transferYAML)
	l := logctl{t, e}
	l.run("collect", "add", "--host", "web1", "--path", app, "--topic", "web_log").must(t)
	trace := func(args ...string) ctl.TraceReport {
		t.Helper()
		r := l.run(append(append([]string{"trace"}, args...), "--transfer-config", transferYAML, "-o", "json")...).must(t)
		var rep ctl.TraceReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v in %s", err, r.stdout)
		}
		return rep
	}

	first := "first line, indexed"
	if err := os.WriteFile(app, []byte(first+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() bool { return z.Count(t, "web_log-*") == 1 }, "the first line searchable")
	id := k.ReadAll(t, "web_log")[0].Headers["event.id"]
	rep := trace(id)
	if !rep.Search.Found || !strings.HasPrefix(rep.Verdict, "indexed: document "+id+" in web_log-") || rep.File.Bytes != first || rep.File.Host != "web1" || rep.File.Path != app {
		t.Fatalf("trace of an indexed line: %+v", rep)
	}
	human := l.run("trace", id, "--transfer-config", transferYAML).must(t).stdout
	for _, want := range []string{"file     still there: \"" + first + "\"", "kafka    web_log/", "search   document in web_log-", "verdict  indexed: document " + id} {
		if !strings.Contains(human, want) {
			t.Errorf("trace output lacks %q:\n%s", want, human)
		}
	}

	// The transfer stopped: the next line waits in Kafka, and the verdict
	// says so with the group's lag.
	if err := transfer.Terminate(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(app, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "second line, waiting in Kafka")
	f.Close()
	testenv.Eventually(t, 30*time.Second, func() bool { return k.Count(t, "web_log") == 2 }, "the second line in Kafka")
	rep = trace("--host", "web1", "--path", app, "--offset", strconv.Itoa(len(first)+1))
	if rep.Search.Found || !rep.Kafka.Found || rep.Kafka.GroupLag != 1 || rep.Kafka.Committed ||
		!strings.Contains(rep.Verdict, fmt.Sprintf("not yet indexed: the transfer's group lag on partition %d is 1", rep.Kafka.Partition)) {
		t.Fatalf("trace of a line still in Kafka: %+v", rep)
	}

	// A line never written.
	rep = trace("--host", "web1", "--path", app, "--offset", "100000")
	if rep.Kafka.Found || !strings.HasPrefix(rep.Verdict, "never written:") {
		t.Fatalf("trace of a line never written: %+v", rep)
	}
}
