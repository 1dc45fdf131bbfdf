//go:build e2e

package transfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
	dto "github.com/prometheus/client_model/go"
)

// TestPipelineEndToEnd: agent → Kafka → transfer → search engine. Every line
// is searchable, once, with its nginx fields parsed.
func TestPipelineEndToEnd(t *testing.T) {
	p := newPipeline(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	p.runAgent(t, dir, fmt.Sprintf(`[{"path":%q,"topic":"web_log","timestamp":"nginx"}]`, logPath))
	rt := startTransfer(t, p.transferConfig(t))

	const n = 3000
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range nginxLines("e2e", n) {
		fmt.Fprintf(f, "%s\n", l)
	}
	f.Close()
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= n }, "all lines searchable")
	requireExactlyOnce(t, p.zinc, n)
	// Every stored document's delay since the agent read its line was
	// measured; the lines' own times (nginx, 2026-11-26) do not count.
	var delay dto.Metric
	if err := rt.metrics.EventDelay.Write(&delay); err != nil || delay.GetHistogram().GetSampleCount() < n ||
		delay.GetHistogram().GetSampleSum()/float64(delay.GetHistogram().GetSampleCount()) > 60 {
		t.Errorf("event delay: %d samples, sum %.1f s; want at least %d, under a minute each on average",
			delay.GetHistogram().GetSampleCount(), delay.GetHistogram().GetSampleSum(), n)
	}
	hits := p.zinc.Search(t, "web_log-*", `{"query":{"term":{"url.original":"/e2e/42"}},"size":5}`)
	if len(hits) == 0 {
		t.Fatal("no hit for a parsed url.original")
	}
	var doc struct {
		Timestamp string `json:"@timestamp"`
		HTTP      struct {
			Response struct {
				StatusCode int `json:"status_code"`
			} `json:"response"`
		} `json:"http"`
	}
	if err := json.Unmarshal(hits[0], &doc); err != nil || doc.HTTP.Response.StatusCode == 0 || doc.Timestamp[:10] != "2026-11-26" {
		t.Fatalf("document %s: %+v %v", hits[0], doc, err)
	}
	// The index template typed the fields: a range query on the numeric status works.
	if hits := p.zinc.Search(t, "web_log-*", `{"query":{"range":{"http.response.status_code":{"gte":400}}},"size":1}`); len(hits) == 0 {
		t.Fatal("no hit for a numeric range on http.response.status_code")
	}
}

// TestMultilineEndToEnd: a Java trace written as several lines is one
// searchable document, its lines joined, flagged multiline.
func TestMultilineEndToEnd(t *testing.T) {
	p := newPipeline(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	p.runAgent(t, dir, fmt.Sprintf(`[{"path":%q,"topic":"web_log","multiline":{"start_pattern":"^\\d{4}-","timeout":"200ms"}}]`, logPath))
	cfg := p.transferConfig(t)
	cfg.Parse = nil
	startTransfer(t, cfg)

	const traces = 100
	var b strings.Builder
	for i := range traces {
		fmt.Fprintf(&b, "2026-11-26 10:00:00 ERROR request %d failed\njava.lang.IllegalStateException: boom %d\n\tat com.example.Handler.serve(Handler.java:42)\n\tat com.example.Server.run(Server.java:7)\n", i, i)
	}
	if err := os.WriteFile(logPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The last trace has nothing after it: its timeout ships it.
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= traces }, "every trace searchable")
	requireExactlyOnce(t, p.zinc, traces)
	hits := p.zinc.Search(t, "web_log-*", `{"query":{"match":{"message":"boom 42"}},"size":200}`)
	var doc struct {
		Message string `json:"message"`
		Log     struct {
			Flags []string `json:"flags"`
		} `json:"log"`
	}
	want := "2026-11-26 10:00:00 ERROR request 42 failed\njava.lang.IllegalStateException: boom 42\n\tat com.example.Handler.serve(Handler.java:42)\n\tat com.example.Server.run(Server.java:7)"
	for _, h := range hits {
		if err := json.Unmarshal(h, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Message == want {
			break
		}
	}
	if doc.Message != want || !slices.Equal(doc.Log.Flags, []string{"multiline"}) {
		t.Fatalf("trace 42 as indexed: %q flags %v", doc.Message, doc.Log.Flags)
	}
}

// TestTransferSystemdNotify runs the transfer as systemd would run a
// Type=notify unit with WatchdogSec: READY once it joined the consumer group,
// watchdog pings, STOPPING on SIGTERM and exit 0.
func TestTransferSystemdNotify(t *testing.T) {
	p := newPipeline(t)
	bin := testenv.Build(t, "./cmd/logtransfer")
	dir := t.TempDir()
	cfgPath := writeTransferYAML(t, p, dir)
	notify := testenv.ListenNotify(t, time.Second)
	proc := testenv.StartProcess(t, filepath.Join(dir, "transfer.log"), bin, "-config", cfgPath)
	if msg, _ := notify.Expect(t, "READY=1", 30*time.Second); !strings.Contains(msg, "STATUS=consuming") {
		t.Fatalf("READY without a status: %q", msg)
	}
	notify.Expect(t, "WATCHDOG=1", 5*time.Second)
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	notify.Expect(t, "STOPPING=1", 5*time.Second)
}

// TestTransferStopsWhileKafkaIsDown: started before its brokers, the
// transfer waits for them, and SIGTERM meanwhile is a clean stop (exit 0),
// not a failure systemd would restart.
func TestTransferStopsWhileKafkaIsDown(t *testing.T) {
	p := newPipeline(t)
	bin := testenv.Build(t, "./cmd/logtransfer")
	dir := t.TempDir()
	cfgPath := writeTransferYAML(t, p, dir)
	yaml, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	nowhere := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	yaml = []byte(strings.Replace(string(yaml), p.kafka.Brokers()[0], nowhere, 1))
	if err := os.WriteFile(cfgPath, yaml, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "transfer.log")
	proc := testenv.StartProcess(t, logPath, bin, "-config", cfgPath)
	testenv.Eventually(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "Kafka not reachable yet")
	}, "the transfer waiting for Kafka")
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("exit after SIGTERM while Kafka is down: %v\n%s", err, b)
	}
}

// TestTransferKill9 kills the transfer process twice: mid-stream, and while
// the engine is down with a batch in flight. Each time the group's
// committed offsets cover only documents the engine holds, and after a
// restart the engine holds every message exactly once.
func TestTransferKill9(t *testing.T) {
	p := newPipeline(t)
	const early, late = 20000, 2000
	const n = early + late
	produceEnvelopes(t, p.kafka, "/var/log/kill9.log", nginxLines("k", early))
	bin := testenv.Build(t, "./cmd/logtransfer")
	dir := t.TempDir()
	cfgPath := writeTransferYAML(t, p, dir)
	logPath := filepath.Join(dir, "transfer.log")
	const group = "logtransfer" // the default group_id
	proc := testenv.StartProcess(t, logPath, bin, "-config", cfgPath)
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= 3000 }, "transfer indexing")
	proc.Kill9(t)
	requireCommitsSearchable(t, p, group)

	// The first process may have indexed everything before its kill: once
	// the restarted one holds partitions, lines produced after the engine
	// stops are a batch in flight for certain.
	sessions := countInFile(t, logPath, sessionStarted)
	proc = testenv.StartProcess(t, logPath, bin, "-config", cfgPath)
	testenv.Eventually(t, 60*time.Second, func() bool { return countInFile(t, logPath, sessionStarted) > sessions }, "the restarted transfer in the group")
	stuck := func() int { return countInFile(t, logPath, bulkFailed) + countInFile(t, logPath, engineProbed) }
	before := stuck()
	p.zinc.Stop()
	produceEnvelopes(t, p.kafka, "/var/log/kill9-late.log", nginxLines("late", late))
	testenv.Eventually(t, 30*time.Second, func() bool { return stuck() >= before+2 }, "a batch stuck while the engine is down")
	proc.Kill9(t)
	p.zinc.Restart(t)
	requireCommitsSearchable(t, p, group)
	atKill := p.zinc.Count(t, "web_log-*")

	proc = testenv.StartProcess(t, logPath, bin, "-config", cfgPath)
	testenv.Eventually(t, 120*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= n }, "all documents after restart")
	requireExactlyOnce(t, p.zinc, n)
	requireAllCommitted(t, p.kafka, group)
	t.Logf("killed the second time with %d of %d documents searchable", atKill, n)
	// SIGTERM: leave the group and exit 0.
	if err := proc.Terminate(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	out, err := exec.Command(bin, "-check", "-config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("-check: %v %s", err, out)
	}
}

// countInFile counts the occurrences of s in the file at path.
func countInFile(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), s)
}

// TestTwoInstancesShareAndTakeOver: two transfers in one group share the
// partitions; one stops while the engine is down and its batch cannot be
// stored; the other takes over from the committed offsets and finishes. No
// loss, no duplicate.
func TestTwoInstancesShareAndTakeOver(t *testing.T) {
	p := newPipeline(t)
	cfg := p.transferConfig(t)
	a := startTransfer(t, cfg)
	b := startTransfer(t, cfg)
	const n, files = 12000, 12
	produceFiles := func(wave string) { // a key per file, spread over the partitions
		for i := range files {
			produceEnvelopes(t, p.kafka, fmt.Sprintf("/var/log/%s%d.log", wave, i), nginxLines(fmt.Sprintf("%s%d", wave, i), n/files/2))
		}
	}
	// Once b holds a session, the generation has both members; produced
	// earlier, the first wave could all go to a before b joins.
	testenv.Eventually(t, 60*time.Second, func() bool { return a.logged.count(sessionStarted) > 0 && b.logged.count(sessionStarted) > 0 },
		"both instances in the group")
	produceFiles("first")
	testenv.Eventually(t, 60*time.Second, func() bool { return counterValue(a.metrics.Indexed) > 0 && counterValue(b.metrics.Indexed) > 0 },
		"both instances indexing")
	stuck := func() int { return a.logged.count(bulkFailed) + a.logged.count(engineProbed) }
	before := stuck()
	p.zinc.Stop()
	produceFiles("second")
	testenv.Eventually(t, 30*time.Second, func() bool { return stuck() >= before+2 }, "a stuck on a batch")
	a.stop(t)
	p.zinc.Restart(t)
	requireCommitsSearchable(t, p, cfg.GroupID)
	testenv.Eventually(t, 120*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= n }, "all documents")
	requireExactlyOnce(t, p.zinc, n)
	requireAllCommitted(t, p.kafka, cfg.GroupID)
}

// TestSearchEngineOutage stops the engine mid-stream: while it is down the
// group's committed offsets stay within what the engine holds, everything
// arrives once after it returns, all of it committed, and how soon after its
// return the transfer indexes again is printed (not asserted).
func TestSearchEngineOutage(t *testing.T) {
	// Long enough for a growing retry backoff to show in the recovery time.
	const outage = 20 * time.Second
	p := newPipeline(t)
	cfg := p.transferConfig(t)
	rt := startTransfer(t, cfg)
	produceEnvelopes(t, p.kafka, "/var/log/a.log", nginxLines("before", 2000))
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= 2000 }, "first documents")
	stored := p.zinc.IDs(t, "web_log-*") // all there is until the engine returns
	p.zinc.Stop()
	indexed := counterValue(rt.metrics.Indexed)
	produceEnvelopes(t, p.kafka, "/var/log/b.log", nginxLines("during", 3000))
	time.Sleep(outage) // the fault's length, not a wait for a condition
	requireCommitsIndexed(t, p.kafka, cfg.GroupID, stored)
	p.zinc.Restart(t)
	back := time.Now()
	testenv.Eventually(t, 120*time.Second, func() bool { return counterValue(rt.metrics.Indexed) > indexed }, "a batch indexed after the engine returned")
	firstBatch := time.Since(back)
	testenv.Eventually(t, 120*time.Second, func() bool { return counterValue(rt.metrics.Indexed) >= 5000 }, "every document indexed")
	allIndexed := time.Since(back)
	testenv.Eventually(t, 120*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= 5000 }, "all documents after the engine returned")
	requireExactlyOnce(t, p.zinc, 5000)
	requireAllCommitted(t, p.kafka, cfg.GroupID)
	t.Logf("engine down %v with 3000 documents waiting; after it answered again: first batch indexed in %.2f s, all indexed in %.2f s, all searchable in %.2f s",
		outage, firstBatch.Seconds(), allIndexed.Seconds(), time.Since(back).Seconds())
}

// TestMappingConflictGoesToDLQ: a document the engine refuses (a field with
// the wrong type) lands in the DLQ topic with its reason; the rest is indexed.
func TestMappingConflictGoesToDLQ(t *testing.T) {
	p := newPipeline(t)
	produceEnvelopes(t, p.kafka, "/var/log/good.log", nginxLines("ok", 100))
	produceRaw(t, p.kafka, `{"@timestamp":"2026-11-26T10:00:00Z","message":"bad","log":{"offset":"not-a-number"},"event":{"id":"bad-doc-1"}}`)
	produceEnvelopes(t, p.kafka, "/var/log/good2.log", nginxLines("ok2", 100))
	startTransfer(t, p.transferConfig(t))
	testenv.Eventually(t, 60*time.Second, func() bool { return p.kafka.Count(t, "web_log-dlq") >= 1 }, "a dead letter")
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= 200 }, "the other documents (dlq %d)", p.kafka.Count(t, "web_log-dlq"))
	dl := p.kafka.ReadAll(t, "web_log-dlq")[0]
	if dl.Headers["event.id"] != "bad-doc-1" || dl.Headers["error.reason"] == "" || dl.Headers["source.topic"] != "web_log" {
		t.Fatalf("dead letter headers: %v", dl.Headers)
	}
	requireExactlyOnce(t, p.zinc, 200)
}

// TestAgentKill9EndToEnd kills the agent process mid-stream: it re-sends
// what Kafka had not acknowledged, with the same event ids, so the engine
// ends with exactly one document per line.
func TestAgentKill9EndToEnd(t *testing.T) {
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
	agentLog := filepath.Join(dir, "agent.log")
	proc := testenv.StartProcess(t, agentLog, bin, "-config", agentYAML)

	const n = 15000
	lines := nginxLines("ak", n)
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
	write(0, 5000)
	testenv.Eventually(t, 30*time.Second, func() bool { return p.kafka.Count(t, "web_log") >= 2000 }, "agent shipping")
	write(5000, 10000)
	proc.Kill9(t)
	write(10000, n)
	testenv.StartProcess(t, agentLog, bin, "-config", agentYAML)
	testenv.Eventually(t, 120*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") >= n }, "every line searchable")
	requireExactlyOnce(t, p.zinc, n)
	t.Logf("%d records in Kafka for %d lines (re-sent after the kill), %d documents", p.kafka.Count(t, "web_log"), n, n)
}
