//go:build e2e

package agent_test

import (
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/internal/testenv"
)

func entry(path, topic string) collect.Entry { return collect.Entry{Path: path, Topic: topic} }

// TestLiveConfigChanges drives one agent through etcd: add an entry, add a
// second, change a topic, reject an invalid value while shipping on, remove
// an entry.
func TestLiveConfigChanges(t *testing.T) {
	s := newStack(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	ra := startAgent(t, s.agentConfig(t, t.TempDir()))

	s.putConfig(t, configJSON(entry(a, "web_log")))
	want := appendLines(t, a, "a", 0, 100)
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 100 }, "a's lines in web_log")

	start := time.Now()
	s.putConfig(t, configJSON(entry(a, "web_log"), entry(b, "web_log")))
	wantB := appendLines(t, b, "b", 0, 10)
	testenv.Eventually(t, 5*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 110 }, "b's lines after adding b")
	t.Logf("added entry shipping after %v", time.Since(start))
	requireAll(t, messagesIn(t, s.kafka, "web_log"), append(want, wantB...))
	rec := s.kafka.ReadAll(t, "web_log")[0]
	if rec.Headers["format"] != "envelope" || len(rec.Headers["event.id"]) != 32 {
		t.Fatalf("headers = %v", rec.Headers)
	}
	// event.created is when the agent read the line, in Unix milliseconds.
	if ms, err := strconv.ParseInt(rec.Headers["event.created"], 10, 64); err != nil || time.Since(time.UnixMilli(ms)) > time.Minute || time.UnixMilli(ms).After(time.Now()) {
		t.Fatalf("event.created = %q, want the read time in Unix milliseconds", rec.Headers["event.created"])
	}

	// A topic change applies to the next lines.
	s.putConfig(t, configJSON(entry(a, "app_log"), entry(b, "web_log")))
	testenv.Eventually(t, 5*time.Second, func() bool { return ra.metric(t, "logagent_config_reloads_total") >= 3 }, "third config applied")
	moved := appendLines(t, a, "a", 100, 110)
	testenv.Eventually(t, 5*time.Second, func() bool { return s.kafka.Count(t, "app_log") >= 10 }, "a's new lines in app_log")
	requireAll(t, messagesIn(t, s.kafka, "app_log"), moved)

	// An invalid value is rejected; the last good config keeps shipping.
	s.putConfig(t, `[{"path":"`+a+`","topc":"web_log"}]`)
	testenv.Eventually(t, 5*time.Second, func() bool { return ra.metric(t, "logagent_config_rejections_total") == 1 }, "rejection counted")
	still := appendLines(t, a, "a", 110, 120)
	testenv.Eventually(t, 5*time.Second, func() bool { return s.kafka.Count(t, "app_log") >= 20 }, "shipping on after a rejected config")
	requireAll(t, messagesIn(t, s.kafka, "app_log"), still)

	// Removing b stops its harvester: one file open, b's new lines stay home.
	s.putConfig(t, configJSON(entry(a, "app_log")))
	testenv.Eventually(t, 5*time.Second, func() bool { return ra.metric(t, "logagent_files_open") == 1 }, "b's harvester stopped")
	appendLines(t, b, "b", 10, 20)
	appendLines(t, a, "a", 120, 121)
	testenv.Eventually(t, 5*time.Second, func() bool { return s.kafka.Count(t, "app_log") >= 21 }, "a still ships")
	if n := s.kafka.Count(t, "web_log"); n != 110 {
		t.Fatalf("web_log has %d records after b was removed, want 110", n)
	}
}

// TestEtcdOutages: the agent ships on while etcd is down, picks up changes
// after etcd returns, and starts from its cached config when etcd is down.
func TestEtcdOutages(t *testing.T) {
	s := newStack(t)
	dir, state := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	cfg := s.agentConfig(t, state)
	ra := startAgent(t, cfg)
	s.putConfig(t, configJSON(entry(a, "web_log")))
	appendLines(t, a, "a", 0, 10)
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 10 }, "first lines")

	s.etcd.Stop()
	appendLines(t, a, "a", 10, 20)
	testenv.Eventually(t, 5*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 20 }, "shipping while etcd is down")
	s.etcd.Restart(t)
	s.putConfig(t, configJSON(entry(a, "web_log"), entry(b, "app_log")))
	appendLines(t, b, "b", 0, 5)
	testenv.Eventually(t, 15*time.Second, func() bool { return s.kafka.Count(t, "app_log") >= 5 }, "config change after etcd came back")
	ra.stop(t)

	// Start with etcd down: the cached config (a and b) runs.
	s.etcd.Stop()
	startAgent(t, cfg)
	appendLines(t, b, "b", 5, 10)
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "app_log") >= 10 }, "cached config ships while etcd is down")
	got := messagesIn(t, s.kafka, "app_log")
	if len(got) != 10 {
		t.Fatalf("app_log has %d distinct lines, want 10 (no re-shipping after a graceful restart)", len(got))
	}
}

// TestBrokerOutage stops the broker mid-stream: the agent stops reading when
// max_bytes_in_flight is reached (memory stays flat), and after the broker
// returns every line arrives.
func TestBrokerOutage(t *testing.T) {
	s := newStack(t, testenv.KafkaPersistent())
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	cfg := s.agentConfig(t, t.TempDir())
	cfg.Kafka.MaxMessageBytes, cfg.Limits.MaxLineBytes, cfg.Limits.MaxBytesInFlight = 256<<10, 64<<10, 1<<20
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	ra := startAgent(t, cfg)
	s.putConfig(t, configJSON(entry(a, "web_log")))
	want := appendLines(t, a, "a", 0, 1000)
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 1000 }, "first lines")

	before := s.kafka.Count(t, "web_log")
	s.kafka.Stop()
	// 8 MiB of lines while the broker is down: 8x the in-flight cap.
	down := time.Now()
	for i := 1; i <= 4; i++ {
		want = append(want, appendLines(t, a, "a", i*1000000, i*1000000+35000)...)
	}
	// Reading stops: bytes_read settles far below the 60 MiB written.
	var lastRead float64
	stable := 0
	testenv.Eventually(t, 30*time.Second, func() bool {
		read := ra.metric(t, "logagent_bytes_read_total")
		if read == lastRead {
			stable++
		} else {
			stable = 0
		}
		lastRead = read
		return stable >= 10
	}, "reading to stop while Kafka is down")
	if lastRead > 4<<20 {
		t.Fatalf("read %.0f MiB while Kafka was down; backpressure does not hold", lastRead/(1<<20))
	}
	var ms runtime.MemStats
	runtime.GC() // the test process's garbage (the lines it wrote, the broker's) is not the agent's
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 200<<20 {
		t.Fatalf("heap in use %d MiB while Kafka is down; the cap does not hold", ms.HeapInuse>>20)
	}
	if inflight := ra.metric(t, "logagent_bytes_in_flight"); inflight > 1<<20 {
		t.Fatalf("bytes in flight %.0f above the 1 MiB cap", inflight)
	}
	t.Logf("reading stopped at %.1f MiB, %v after the broker went down", lastRead/(1<<20), time.Since(down))
	// Down long enough for the producer to give messages back: they wait for
	// a broker to answer.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return ra.metric(t, `logagent_send_errors_total{kind="retryable"}`) > 0
	}, "send errors while the broker is down")
	s.kafka.Restart(t)
	up := time.Now()
	testenv.Eventually(t, 60*time.Second, func() bool { return s.kafka.Count(t, "web_log") > before }, "shipping to resume")
	t.Logf("recovery: shipping resumed %v after the broker returned", time.Since(up).Round(time.Millisecond))
	testenv.Eventually(t, 120*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= int64(len(want)) }, "all lines after the broker returned")
	t.Logf("all %d lines in Kafka %v after the broker returned", len(want), time.Since(up))
	requireAll(t, messagesIn(t, s.kafka, "web_log"), want)
	// A fresh producer after the outage: the old one's circuit breakers
	// would hold sending back for up to 10 s.
	if n := ra.metric(t, "logagent_producer_renewals_total"); n < 1 {
		t.Fatalf("producer renewals %.0f after the outage, want at least 1", n)
	}
	t.Logf("heap in use during the outage: %d MiB; retried: %.0f", ms.HeapInuse>>20, ra.metric(t, "logagent_messages_retried_total"))
}
