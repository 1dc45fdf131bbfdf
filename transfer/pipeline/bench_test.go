package pipeline

import (
	"testing"
)

// BenchmarkSteps measures steps on a ~200-byte application line, without
// the document's decoding and encoding. `go test -bench Steps -run ^$
// ./transfer/pipeline`
func BenchmarkSteps(b *testing.B) {
	const line = "2026-12-02 10:01:02.123 ERROR [req=0000abcd] payment failed for order 0000001 user=alice amount=12.50 currency=EUR path=/api/v1/pay/confirm session=4f1c2e9a latency=250ms"
	for _, c := range []struct{ name, steps string }{
		{"grok", `- grok: {patterns: ['^%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:log.level} \[req=%{WORD:trace.id}\] %{DATA:msg} latency=%{NUMBER:latency_ms}ms$']}`},
		{"dissect", `- dissect: {tokenizer: '%{ts} %{+ts} %{log.level} [req=%{trace.id}] %{msg}'}`},
		{"kv", `- kv: {}`},
		{"date", "- set: {fields: {ts: '2026-12-02 10:01:02.123'}}\n- date: {field: ts, layouts: ['2006-01-02 15:04:05.000']}"},
		{"condition", "- set: {fields: {x: 1}}\n  if: 'message matches \"ERROR\"'"},
	} {
		p, err := compileSpecsYAML(c.steps)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Run(Event{"message": line})
			}
		})
	}
}

func compileSpecsYAML(src string) (*Pipeline, error) {
	var specs []Spec
	if err := yamlUnmarshal([]byte(src), &specs); err != nil {
		return nil, err
	}
	return Compile(specs, nil)
}
