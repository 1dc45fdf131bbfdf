package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"gopkg.in/yaml.v3"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/transfer"
)

// pipelineCase is one topic setting whose conversion cost is measured.
type pipelineCase struct {
	name, what string
	lines      [][]byte
	yaml       string // the topic's transfer.yaml settings
}

// The workloads: ~200-byte application and access-log lines.
func appLines(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "2026-12-02 10:%02d:%02d.%03d ERROR [req=%08x] payment failed for order %07d user=alice amount=12.50 currency=EUR path=/api/v1/pay/confirm session=4f1c2e9a card=visa retry=2 latency=%dms",
			i/60%60, i%60, i%1000, uint32(i*2654435761), i, i%997)
	}
	return out
}

// pipelineCases are the settings measured against the same lines.
func pipelineCases(n int) []pipelineCase {
	app, access := appLines(n), nginxLines(n)
	return []pipelineCase{
		{"none", "application lines, no parse, no pipeline", app, ""},
		{"nginx", "access lines, parse: nginx", access, "parse: {bench: nginx}"},
		{"none-access", "access lines, no parse, no pipeline", access, ""},
		{"grok-3", "application lines: grok, date, convert", app, `pipelines:
  bench:
    - grok: {patterns: ['^%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:log.level} \[req=%{WORD:trace.id}\] %{DATA:msg} latency=%{NUMBER:latency_ms}ms$']}
    - date: {field: ts, layouts: ["2006-01-02 15:04:05.000"]}
    - convert: {fields: {latency_ms: int}}`},
		{"dissect", "application lines: dissect", app, `pipelines:
  bench:
    - dissect: {tokenizer: '%{ts} %{+ts} %{log.level} [req=%{trace.id}] %{msg}'}`},
	}
}

func nginxLines(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `10.1.%d.%d - alice [02/Dec/2026:10:00:%02d +0000] "GET /api/v1/orders/%07d?page=2 HTTP/1.1" %d 5120 "https://shop.example.com/cart" "Mozilla/5.0 (X11; Linux x86_64)"`,
			i/250%250, i%250, i%60, i, 200+i%3*100)
	}
	return out
}

// runPipelines is -pipelines: the converter's cost per document for each
// case, in this process, medians of rounds, beside the no-pipeline figure.
func runPipelines(docs, rounds int) error {
	cases := pipelineCases(docs)
	type result struct {
		c      pipelineCase
		micros float64
		bytes  float64
	}
	type prepared struct {
		conv *transfer.Converter
		msgs []*sarama.ConsumerMessage
	}
	preps := make([]prepared, len(cases))
	for i, c := range cases {
		conv, err := converterFor(c.yaml)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		values, ids := agent.EncodeEnvelopes("bench-host", "/var/log/app.log", "/var/log/app.log", time.Now(), c.lines)
		msgs := make([]*sarama.ConsumerMessage, len(values))
		for j := range values {
			msgs[j] = &sarama.ConsumerMessage{Topic: "bench", Value: values[j], Timestamp: time.Now(), Offset: int64(j),
				Headers: []*sarama.RecordHeader{{Key: []byte("event.id"), Value: ids[j]}, {Key: []byte("format"), Value: []byte("envelope")}}}
		}
		preps[i] = prepared{conv, msgs}
	}
	// Rounds go through every case in turn, so a slower spell of the shared
	// machine weighs on all of them alike.
	times := make([][]float64, len(cases))
	for range rounds {
		for i, p := range preps {
			runtime.GC()
			start := time.Now()
			for _, m := range p.msgs {
				p.conv.Document(m)
			}
			times[i] = append(times[i], float64(time.Since(start).Nanoseconds())/1e3/float64(len(p.msgs)))
		}
	}
	var results []result
	for i, c := range cases {
		slices.Sort(times[i])
		var lineBytes int
		for _, l := range c.lines {
			lineBytes += len(l)
		}
		results = append(results, result{c, times[i][len(times[i])/2], float64(lineBytes) / float64(len(c.lines))})
	}
	w := os.Stdout
	fmt.Fprintf(w, "\ntransferbench -pipelines: %d documents per case, median of %d rounds, in one process (the converter alone: no Kafka, no engine)\n", docs, rounds)
	fmt.Fprintf(w, "%s\n\n", benchkit.Machine())
	fmt.Fprintf(w, "%-12s %9s %10s %12s  %s\n", "case", "line B", "µs/doc", "+µs vs none", "what")
	base := map[bool]float64{}
	for _, r := range results {
		if r.c.name == "none" || r.c.name == "none-access" {
			base[r.c.name == "none-access"] = r.micros
		}
	}
	for _, r := range results {
		access := r.c.name == "nginx" || r.c.name == "none-access"
		fmt.Fprintf(w, "%-12s %9.0f %10.2f %12s  %s\n", r.c.name, r.bytes, r.micros, fmt.Sprintf("%+.2f", r.micros-base[access]), r.c.what)
		if r.c.name == "grok-3" {
			defer fmt.Fprintf(w, "target: a 3-step grok pipeline ≤ 10 µs per ~200-byte line: %.2f µs (%s)\n", r.micros, benchkit.Verdict(r.micros <= 10))
		}
	}
	fmt.Fprintf(w, "command: %s\n", prog.Command())
	return nil
}

// converterFor is the converter of a transfer.yaml with topic bench and
// settings.
func converterFor(settings string) (*transfer.Converter, error) {
	var cfg conf.Transfer
	if err := yaml.Unmarshal([]byte("kafka: {brokers: [\"127.0.0.1:9092\"]}\ntopics: [bench]\n"+settings), &cfg); err != nil {
		return nil, err
	}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		return nil, err
	}
	return transfer.NewConverter(&cfg)
}
