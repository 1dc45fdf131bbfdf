//go:build e2e

package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

// stack is a real etcd and a real Kafka-protocol broker on 127.0.0.1.
type stack struct {
	etcd  *testenv.Etcd
	kafka *testenv.Kafka
}

func newStack(t *testing.T, kafkaOpts ...testenv.KafkaOption) *stack {
	t.Helper()
	kafkaOpts = append([]testenv.KafkaOption{testenv.Topics("web_log", "app_log")}, kafkaOpts...)
	return &stack{etcd: testenv.StartEtcd(t), kafka: testenv.StartKafka(t, kafkaOpts...)}
}

// agentConfig is a validated config for an agent on this stack, with fast
// timings.
func (s *stack) agentConfig(t *testing.T, stateDir string) *conf.Agent {
	t.Helper()
	cfg := &conf.Agent{
		HostID:     "e2e-host",
		StateDir:   stateDir,
		HTTPListen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		Kafka:      conf.Kafka{Brokers: s.kafka.Brokers()},
		Etcd:       conf.Etcd{Endpoints: s.etcd.Endpoints()},
		Limits:     conf.Limits{MaxBytesInFlight: 4 << 20},
		Files: conf.Files{
			RescanInterval: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
			RotateWait: 300 * time.Millisecond, FlushInterval: 100 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second,
		},
	}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// putConfig writes the collect config of host e2e-host.
func (s *stack) putConfig(t *testing.T, value string) {
	t.Helper()
	cli := s.etcd.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcd.CollectKey("/logagent/", "e2e-host"), value); err != nil {
		t.Fatal(err)
	}
}

func configJSON(entries ...collect.Entry) string {
	b, err := json.Marshal(entries)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// runningAgent is an agent.Agent running in this process.
type runningAgent struct {
	cfg    *conf.Agent
	cancel context.CancelFunc
	done   chan error
}

func startAgent(t *testing.T, cfg *conf.Agent) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	go func() { ra.done <- agent.New(cfg, "test", log, agent.Options{}).Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-ra.done:
		t.Fatalf("agent exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready within 30s")
	}
	t.Cleanup(func() { ra.stop(t) })
	return ra
}

func (ra *runningAgent) stop(t *testing.T) {
	if ra.cancel == nil {
		return
	}
	ra.cancel()
	ra.cancel = nil
	select {
	case err := <-ra.done:
		if err != nil {
			t.Errorf("agent stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<20)
		t.Errorf("agent did not stop within 30s; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	}
}

// metric scrapes one series from the agent's /metrics.
func (ra *runningAgent) metric(t *testing.T, name string) float64 {
	t.Helper()
	return testenv.Metric(t, ra.cfg.HTTPListen, name)
}

// messagesIn returns the "message" of every envelope in topic, by event id.
func messagesIn(t *testing.T, k *testenv.Kafka, topic string) map[string][]string {
	t.Helper()
	byLine := map[string][]string{}
	for _, r := range k.ReadAll(t, topic) {
		var ev struct {
			Message string `json:"message"`
		}
		if r.Headers["format"] == "envelope" {
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("record %s/%d/%d is not an envelope: %v", topic, r.Partition, r.Offset, err)
			}
		} else {
			ev.Message = string(r.Value)
		}
		byLine[ev.Message] = append(byLine[ev.Message], r.Headers["event.id"])
	}
	return byLine
}

// requireAll fails unless every line arrived, and every copy of a line
// carries the same event id.
func requireAll(t *testing.T, got map[string][]string, want []string) {
	t.Helper()
	for _, l := range want {
		ids := got[l]
		if len(ids) == 0 {
			t.Fatalf("line %q never reached Kafka", l)
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("line %q shipped with ids %v", l, ids)
			}
		}
	}
}

func appendLines(t *testing.T, path, prefix string, from, to int) []string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var out []string
	for i := from; i < to; i++ {
		l := fmt.Sprintf("%s-%07d some payload to look like a log line", prefix, i)
		out = append(out, l)
		fmt.Fprintln(w, l)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }
