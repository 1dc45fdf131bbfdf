//go:build e2e

package transfer_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
	"github.com/logagent/logagent/transfer"
	"github.com/prometheus/client_golang/prometheus"
)

// appPipeline is an application log's pipeline as an operator writes it in
// transfer.yaml.
const appPipeline = `
web_log:
  steps:
    - grok:
        patterns: ['^%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:log.level} \[req=%{WORD:trace.id}\] %{DATA:msg} latency=%{NUMBER:latency_ms}ms$']
    - drop: {}
      if: 'log.level == "DEBUG"'
    - date: {field: ts, layouts: ["2006-01-02 15:04:05.000"], timezone: Europe/Berlin}
    - convert: {fields: {latency_ms: float}}
    - remove: {fields: [ts]}
  fields: {trace.id: string}
`

// TestGrokPipelineIntoTypedFields: an application log topic is parsed by
// grok into fields the index template types, so a range query on a number
// finds it; a line the pattern does not fit is indexed, tagged; a dropped
// line is not indexed, and every offset is committed.
func TestGrokPipelineIntoTypedFields(t *testing.T) {
	p := newPipeline(t)
	cfg := p.transferConfig(t)
	cfg.Parse = nil
	if err := yaml.Unmarshal([]byte(appPipeline), &cfg.Pipelines); err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	rt := startTransfer(t, cfg)
	produceEnvelopes(t, p.kafka, "/var/log/pay/app.log", [][]byte{
		[]byte("2026-12-02 10:01:02.123 ERROR [req=ab12] payment failed latency=250.5ms"),
		[]byte("2026-12-02 10:01:03.000 INFO [req=cd34] payment ok latency=12ms"),
		[]byte("2026-12-02 10:01:04.000 DEBUG [req=ef56] cache miss latency=1ms"),
		[]byte("a stack trace line the pattern does not fit"),
	})
	testenv.Eventually(t, 60*time.Second, func() bool { return p.zinc.Count(t, "web_log-*") == 3 }, "three documents searchable")
	requireAllCommitted(t, p.kafka, cfg.GroupID)
	if n := counterValue(rt.metrics.PipelineDropped.WithLabelValues("web_log", "drop (step 2)")); n != 1 {
		t.Errorf("dropped counter = %v, want 1", n)
	}

	hits := p.zinc.Search(t, "web_log-*", `{"query":{"range":{"latency_ms":{"gte":100}}},"size":5}`)
	if len(hits) != 1 {
		t.Fatalf("range latency_ms >= 100: %d hits, want 1", len(hits))
	}
	var doc struct {
		Timestamp string  `json:"@timestamp"`
		Latency   float64 `json:"latency_ms"`
		Msg       string  `json:"msg"`
		Trace     struct {
			ID string `json:"id"`
		} `json:"trace"`
		Log struct {
			Level string `json:"level"`
		} `json:"log"`
	}
	if err := json.Unmarshal(hits[0], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Latency != 250.5 || doc.Trace.ID != "ab12" || doc.Log.Level != "ERROR" || doc.Msg != "payment failed" ||
		!strings.HasPrefix(doc.Timestamp, "2026-12-02T09:01:02.123") { // the engine keeps dates to the microsecond
		t.Fatalf("document %s", hits[0])
	}

	failed := p.zinc.Search(t, "web_log-*", `{"query":{"term":{"tags":"grok_failure"}},"size":5}`)
	if len(failed) != 1 || !strings.Contains(string(failed[0]), "does not fit") || !strings.Contains(string(failed[0]), "grok (step 1): no pattern matched") {
		t.Fatalf("tagged failures: %s", failed)
	}
}

// TestPipelineRejectedAtStart: a pipeline whose pattern does not compile
// stops the transfer before it consumes anything, naming the step.
func TestPipelineRejectedAtStart(t *testing.T) {
	var pipelines map[string]conf.Pipeline
	if err := yaml.Unmarshal([]byte("web_log: [{grok: {patterns: ['%{NOPE:x}']}}]"), &pipelines); err != nil {
		t.Fatal(err)
	}
	cfg := &conf.Transfer{Kafka: conf.Kafka{Brokers: []string{"127.0.0.1:1"}}, Pipelines: pipelines, HTTPListen: "off"}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.New(cfg, transfer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler), transfer.Options{}); err == nil || !strings.Contains(err.Error(), "pipelines.web_log: step 1 (grok): patterns[0]") {
		t.Fatalf("start with a bad pattern: %v", err)
	}
}
