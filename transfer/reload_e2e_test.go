//go:build e2e

package transfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

// TestTransferReloadCredentialsAndEngine: a transfer started with a wrong
// Elasticsearch password indexes nothing; the password file fixed and
// SIGHUP, the waiting batches are indexed with the new credentials. Then the
// file points at a second engine: the documents written around that reload
// end up in one engine or the other, each once.
func TestTransferReloadCredentialsAndEngine(t *testing.T) {
	p := newPipeline(t)
	second := testenv.StartZinc(t)
	bin := testenv.Build(t, "./cmd/logtransfer")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "es-password")
	writeFile(t, pwFile, "not-the-password\n")
	f := transferFile{brokers: p.kafka.Brokers()[0], esURL: p.zinc.URL(), user: p.zinc.User(), password: "file:" + pwFile}
	cfgPath := filepath.Join(dir, "transfer.yaml")
	f.write(t, cfgPath)
	proc := testenv.StartProcess(t, filepath.Join(dir, "transfer.log"), bin, "-config", cfgPath)

	produceEnvelopes(t, p.kafka, "/var/log/a.log", nginxLines("a", 2000))
	proc.WaitLog(t, "bulk request failed", 1)
	if n := p.zinc.Count(t, "web_log-*"); n != 0 {
		t.Fatalf("%d documents indexed with a wrong password", n)
	}
	writeFile(t, pwFile, p.zinc.Password()+"\n")
	proc.Reload(t)
	proc.WaitLog(t, "config reloaded", 1)
	testenv.Eventually(t, 90*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= 2000 }, "the waiting documents indexed with the new password")

	produceEnvelopes(t, p.kafka, "/var/log/b.log", nginxLines("b", 3000))
	f.esURL = second.URL()
	f.write(t, cfgPath)
	proc.Reload(t)
	proc.WaitLog(t, "config reloaded", 2)
	produceEnvelopes(t, p.kafka, "/var/log/c.log", nginxLines("c", 2000))
	testenv.Eventually(t, 90*time.Second, func() bool { return p.zinc.Count(t, "web_log-*")+second.Count(t, "web_log-*") >= 7000 },
		"every document in one of the engines")
	requireOnceAcross(t, 7000, p.zinc, second)
	if n := second.Count(t, "web_log-*"); n < 2000 {
		t.Errorf("%d documents in the second engine; the 2000 written after the reload belong there", n)
	}
	t.Logf("first engine %d documents, second %d", p.zinc.Count(t, "web_log-*"), second.Count(t, "web_log-*"))
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestTransferReloadKafkaSettings: started with a wrong broker address, the
// transfer waits; SIGHUP with the right one, it joins and indexes. New Kafka
// settings mid-stream make it store and commit the batches in flight, leave
// the group and join again: every document is indexed once, and no message
// is read twice (what the drain had read was committed, none redelivered).
func TestTransferReloadKafkaSettings(t *testing.T) {
	p := newPipeline(t)
	bin := testenv.Build(t, "./cmd/logtransfer")
	dir := t.TempDir()
	metrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	f := transferFile{brokers: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), esURL: p.zinc.URL(), user: p.zinc.User(), password: p.zinc.Password(),
		httpListen: metrics}
	cfgPath := filepath.Join(dir, "transfer.yaml")
	f.write(t, cfgPath)
	proc := testenv.StartProcess(t, filepath.Join(dir, "transfer.log"), bin, "-config", cfgPath)
	proc.WaitLog(t, "Kafka not reachable yet", 1)

	produceEnvelopes(t, p.kafka, "/var/log/a.log", nginxLines("a", 2000))
	f.brokers = p.kafka.Brokers()[0]
	f.write(t, cfgPath)
	proc.Reload(t)
	testenv.Eventually(t, 90*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= 2000 }, "indexing once the broker address is right")

	const total = 2000 + 4*5000
	for i := range 4 { // a key per file, spread over the partitions
		produceEnvelopes(t, p.kafka, fmt.Sprintf("/var/log/b%d.log", i), nginxLines(fmt.Sprintf("b%d", i), 5000))
	}
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") > 2000 }, "indexing the second part")
	f.sessionTimeout = "3s"
	f.write(t, cfgPath)
	proc.Reload(t)
	proc.WaitLog(t, "leaving the consumer group", 1)
	atDrain := testenv.Metric(t, metrics, "logtransfer_messages_consumed_total")
	testenv.Eventually(t, 120*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= total }, "every document after the rejoin")
	requireExactlyOnce(t, p.zinc, total)
	if n := strings.Count(proc.Log(t), "consumer group session started"); n < 2 {
		t.Errorf("%d group sessions, want a second one after the rejoin", n)
	}
	if atDrain >= total {
		t.Errorf("every message was read before the drain (%v): it tested nothing", atDrain)
	}
	if got := testenv.Metric(t, metrics, "logtransfer_messages_consumed_total"); got != total {
		t.Errorf("%v messages read for %d in Kafka: the drain left what it had read uncommitted", got, total)
	}
	t.Logf("drained and rejoined with %v of %d messages read", atDrain, total)
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestTransferReloadRejectsBadConfig: a file that is not YAML, or has an
// invalid value, is rejected with the reason and changes nothing: the
// transfer keeps running and indexing. A good file applies its log level at
// once and says that http_listen needs a restart.
func TestTransferReloadRejectsBadConfig(t *testing.T) {
	p := newPipeline(t)
	bin := testenv.Build(t, "./cmd/logtransfer")
	dir := t.TempDir()
	f := transferFile{brokers: p.kafka.Brokers()[0], esURL: p.zinc.URL(), user: p.zinc.User(), password: p.zinc.Password()}
	cfgPath := filepath.Join(dir, "transfer.yaml")
	f.write(t, cfgPath)
	proc := testenv.StartProcess(t, filepath.Join(dir, "transfer.log"), bin, "-config", cfgPath)
	indexed := 0
	produce := func(prefix string) {
		t.Helper()
		produceEnvelopes(t, p.kafka, "/var/log/"+prefix+".log", nginxLines(prefix, 1000))
		indexed += 1000
		testenv.Eventually(t, 90*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= int64(indexed) }, "%s indexed", prefix)
	}
	produce("a")

	writeFile(t, cfgPath, "kafka: {brokers: [unclosed\n")
	proc.Reload(t)
	proc.WaitLog(t, "config reload rejected", 1)
	produce("b")

	bad := f
	bad.batch = "{max_docs: -1}"
	bad.write(t, cfgPath)
	proc.Reload(t)
	proc.WaitLog(t, "config reload rejected", 2)
	if log := proc.Log(t); !strings.Contains(log, "batch.max_docs") {
		t.Errorf("the rejection does not name the setting:\n%s", log)
	}
	produce("c")

	// log_level warn: from the reload on, INFO lines are not written.
	good := f
	good.extra, good.httpListen = "log_level: warn\n", "127.0.0.1:1"
	good.write(t, cfgPath)
	proc.Reload(t)
	proc.WaitLog(t, "apply only after a restart", 1)
	atWarn := len(proc.Log(t))
	produce("d")
	good.extra, good.httpListen = "log_level: info\n", ""
	good.write(t, cfgPath)
	proc.Reload(t)
	proc.WaitLog(t, "config reloaded", 1)
	if tail := proc.Log(t)[atWarn:]; strings.Count(tail, "level=INFO") != 1 {
		t.Errorf("INFO lines at log_level warn, or the reload back to info not logged:\n%s", tail)
	}
	requireExactlyOnce(t, p.zinc, indexed)
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestAgentSurvivesSIGHUP: SIGHUP no longer ends the agent (it used to exit
// 129 without draining or saving its registry). Reloading an unchanged
// agent.yaml, it keeps shipping, every line once in the engine; SIGTERM then
// exits 0.
func TestAgentSurvivesSIGHUP(t *testing.T) {
	p := newPipeline(t)
	et := testenv.StartEtcd(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	cfgJSON, _ := json.Marshal([]collect.Entry{{Path: logPath, Topic: "web_log"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := et.Client(t).Put(ctx, etcd.CollectKey("/logagent/", "e2e-host"), string(cfgJSON)); err != nil {
		t.Fatal(err)
	}
	agentYAML := testenv.WriteAgentConfig(t, dir, "e2e-host", p.kafka.Brokers()[0], et.Endpoints()[0])
	bin := testenv.Build(t, "./cmd/logagent")
	startTransfer(t, p.transferConfig(t))
	proc := testenv.StartProcess(t, filepath.Join(dir, "agent.log"), bin, "-config", agentYAML)

	const n = 6000
	lines := nginxLines("hup", n)
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(from, to int) {
		for _, l := range lines[from:to] {
			fmt.Fprintf(f, "%s\n", l)
		}
	}
	write(0, 3000)
	testenv.Eventually(t, 30*time.Second, func() bool { return p.kafka.Count(t, "web_log") >= 1000 }, "agent shipping")
	for i := 1; i <= 2; i++ {
		proc.Reload(t)
		proc.WaitLog(t, "reload requested (SIGHUP)", i)
	}
	write(3000, n)
	testenv.Eventually(t, 120*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= n }, "every line searchable")
	requireExactlyOnce(t, p.zinc, n)
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGHUP and SIGTERM: %v", err)
	}
}
