//go:build e2e

package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

// TestSASLSCRAM ships through a broker that requires SCRAM-SHA-256, with the
// password read from a file.
func TestSASLSCRAM(t *testing.T) {
	s := newStack(t, testenv.KafkaSASL("SCRAM-SHA-256", "shipper", "s3cret"))
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	cfg := s.agentConfig(t, t.TempDir())
	cfg.Kafka.SASL = conf.SASL{Mechanism: "SCRAM-SHA-256", Username: "shipper", Password: conf.Secret("file:" + writeSecret(t, "s3cret"))}
	startAgent(t, cfg)
	s.putConfig(t, configJSON(entry(a, "web_log")))
	want := appendLines(t, a, "sasl", 0, 50)
	testenv.Eventually(t, 15*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 50 }, "lines through SASL")
	requireAll(t, messagesIn(t, s.kafka, "web_log"), want)
}

// TestUnhealableErrorIsLoudAndNothingIsDropped: the broker refuses one
// message as too large. The agent counts it as unhealable and keeps
// retrying it; the other lines still arrive; the refused line is not dropped
// (the file's registry offset stays before it).
func TestUnhealableErrorIsLoudAndNothingIsDropped(t *testing.T) {
	s := newStack(t, testenv.KafkaFakeOptions(kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4096"})))
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	ra := startAgent(t, s.agentConfig(t, t.TempDir()))
	s.putConfig(t, configJSON(entry(a, "web_log")))
	want := appendLines(t, a, "before", 0, 10)
	huge := make([]byte, 8192)
	_, _ = rand.Read(huge)
	appendLines(t, a, hex.EncodeToString(huge), 0, 1) // incompressible, far above 4096 bytes
	want = append(want, appendLines(t, a, "after", 0, 10)...)
	testenv.Eventually(t, 15*time.Second, func() bool {
		return ra.metric(t, `logagent_send_errors_total{kind="unhealable"}`) >= 2
	}, "unhealable errors counted, and retried")
	testenv.Eventually(t, 15*time.Second, func() bool { return s.kafka.Count(t, "web_log") >= 20 }, "the other lines")
	requireAll(t, messagesIn(t, s.kafka, "web_log"), want)

	// The status in etcd shows the file lagging behind the refused line.
	cli := s.etcd.Client(t)
	var st collect.Status
	testenv.Eventually(t, 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, etcd.StatusKey("/logagent/", "e2e-host"))
		if err != nil || len(resp.Kvs) == 0 || json.Unmarshal(resp.Kvs[0].Value, &st) != nil {
			return false
		}
		return len(st.Files) == 1 && st.Files[0].LagBytes > 0
	}, "status with the file's lag")
	if st.Files[0].Path != a || st.Files[0].Topic != "web_log" || st.Config.AppliedRevision == 0 || st.Host != "e2e-host" {
		t.Fatalf("status = %+v", st)
	}
}

func writeSecret(t *testing.T, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := writeFile(p, v+"\n"); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMissingTopicShowsInStatusUntilCreated: a collect entry names a topic
// the broker does not have (and does not auto-create). The agent keeps
// retrying, and the file's status carries the send error and since when,
// with logagent_topic_send_failing at 1, until the topic exists; then the
// lines arrive and the error clears.
func TestMissingTopicShowsInStatusUntilCreated(t *testing.T) {
	s := newStack(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	ra := startAgent(t, s.agentConfig(t, t.TempDir()))
	s.putConfig(t, configJSON(entry(a, "new_topic")))
	want := appendLines(t, a, "waiting", 0, 20)
	st := waitStatus(t, s, "the file's send error", func(st collect.Status) bool {
		return len(st.Files) == 1 && st.Files[0].SendError != "" && st.Files[0].SendErrorSince != nil
	})
	t.Logf("send error in the status: %q", st.Files[0].SendError)
	if got := ra.metric(t, `logagent_topic_send_failing{topic="new_topic"}`); got != 1 {
		t.Fatalf("logagent_topic_send_failing = %v, want 1", got)
	}
	s.kafka.CreateTopics(t, "new_topic")
	testenv.Eventually(t, 30*time.Second, func() bool { return s.kafka.Count(t, "new_topic") >= 20 }, "the lines, once the topic exists")
	requireAll(t, messagesIn(t, s.kafka, "new_topic"), want)
	waitStatus(t, s, "the send error cleared", func(st collect.Status) bool {
		return len(st.Files) == 1 && st.Files[0].SendError == "" && st.Files[0].LagBytes == 0
	})
	if got := ra.metric(t, `logagent_topic_send_failing{topic="new_topic"}`); got != 0 {
		t.Fatalf("logagent_topic_send_failing = %v after recovery, want 0", got)
	}
}

// waitStatus waits until the agent's status key in etcd satisfies ok.
func waitStatus(t *testing.T, s *stack, what string, ok func(collect.Status) bool) collect.Status {
	t.Helper()
	cli := s.etcd.Client(t)
	var st collect.Status
	testenv.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, etcd.StatusKey("/logagent/", "e2e-host"))
		st = collect.Status{}
		return err == nil && len(resp.Kvs) > 0 && json.Unmarshal(resp.Kvs[0].Value, &st) == nil && ok(st)
	}, "%s", what)
	return st
}
