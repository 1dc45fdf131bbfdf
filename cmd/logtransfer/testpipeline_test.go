package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTestPipeline: sample lines go through the topic's pipeline as if
// shipped by the agent; the output shows each document, the dropped lines
// and the failing step.
func TestTestPipeline(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "transfer.yaml")
	if err := os.WriteFile(cfg, []byte(`kafka: {brokers: ["127.0.0.1:9092"]}
topics: [app_log]
pipelines:
  app_log:
    - dissect: {tokenizer: '%{ts} %{+ts} %{log.level} %{msg}'}
    - drop: {}
      if: 'log.level == "DEBUG"'
    - date: {field: ts, layouts: ["2006-01-02 15:04:05"], timezone: Europe/Berlin}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	in := "2026-12-02 10:01:02 ERROR payment failed\n2026-12-02 10:01:03 DEBUG noise\nnot a-date INFO y\n"
	var out bytes.Buffer
	if err := testPipeline([]string{"-config", cfg, "-topic", "app_log"}, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	var docs []map[string]any
	for dec.More() {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if len(docs) != 3 {
		t.Fatalf("%d outputs, want 3", len(docs))
	}
	src := docs[0]["_source"].(map[string]any)
	if src["@timestamp"] != "2026-12-02T09:01:02.000000000Z" || src["msg"] != "payment failed" || docs[0]["_index"] != "app_log-2026.12.02" {
		t.Errorf("first document %v", docs[0])
	}
	if docs[1]["dropped_by"] != "drop (step 2)" {
		t.Errorf("second line %v", docs[1])
	}
	if docs[2]["failed_step"] != "date (step 3)" {
		t.Errorf("third line %v", docs[2])
	}
	if err := testPipeline([]string{"-config", cfg, "-topic", "web_log"}, strings.NewReader(in), &out); err == nil || !strings.Contains(err.Error(), `topic "web_log" is not in topics`) {
		t.Errorf("an unknown topic: %v", err)
	}
}
