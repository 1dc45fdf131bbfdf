package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// compileYAML compiles a pipeline written as in transfer.yaml.
func compileYAML(t *testing.T, src string) (*Pipeline, error) {
	t.Helper()
	var specs []Spec
	if err := yamlUnmarshal([]byte(src), &specs); err != nil {
		t.Fatal(err)
	}
	return Compile(specs, nil)
}

var yamlUnmarshal = yaml.Unmarshal

func mustCompile(t *testing.T, src string) *Pipeline {
	t.Helper()
	p, err := compileYAML(t, src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func event(t *testing.T, js string) Event {
	t.Helper()
	var ev Event
	if err := json.Unmarshal([]byte(js), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func asJSON(ev Event) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

// TestApplicationLogPipeline: grok into fields, a date into @timestamp, a
// conversion, a condition that holds and one that does not.
func TestApplicationLogPipeline(t *testing.T) {
	p := mustCompile(t, `
- grok:
    patterns: ['%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:log.level} \[req=%{WORD:trace.id}\] %{GREEDYDATA:msg} latency=%{NUMBER:latency_ms}']
- date: {field: ts, layouts: ["2006-01-02 15:04:05.000"], timezone: Europe/Berlin}
- convert: {fields: {latency_ms: float}}
- lowercase: {fields: [log.level]}
- set: {fields: {alert: true}}
  if: 'log.level == "error" && latency_ms > 100'
- set: {fields: {slow: true}}
  if: 'latency_ms > 1000'
- remove: {fields: [ts]}
`)
	ev := event(t, `{"@timestamp":"2026-12-04T00:00:00.000000000Z","message":"2026-12-02 10:01:02.123 ERROR [req=ab12] payment failed latency=250.5"}`)
	if r := p.Run(ev); r != (Result{}) {
		t.Fatalf("Run = %+v", r)
	}
	want := `{"@timestamp":"2026-12-02T09:01:02.123000000Z","alert":true,"latency_ms":250.5,"log":{"level":"error"},"message":"2026-12-02 10:01:02.123 ERROR [req=ab12] payment failed latency=250.5","msg":"payment failed","trace":{"id":"ab12"}}`
	if got := asJSON(ev); got != want {
		t.Fatalf("event\n%s\nwant\n%s", got, want)
	}
	if got := p.FieldTypes(); !reflect.DeepEqual(got, map[string]string{"latency_ms": "float"}) {
		t.Errorf("field types %v", got)
	}
}

// TestFailingStepTagsAndStops: the event keeps what it has, is tagged with
// the step's failure and the reason, and later steps do not run.
func TestFailingStepTagsAndStops(t *testing.T) {
	p := mustCompile(t, `
- set: {fields: {before: 1}}
- grok: {patterns: ['^%{IP:client.ip} ']}
- set: {fields: {after: 1}}
`)
	ev := event(t, `{"message":"not an address","tags":["kept"]}`)
	r := p.Run(ev)
	if r.Failed != "grok (step 2)" || r.Dropped != "" {
		t.Fatalf("Run = %+v", r)
	}
	if _, ok := ev["after"]; ok || ev["before"] == nil {
		t.Errorf("steps around the failure: %s", asJSON(ev))
	}
	if tags := ev["tags"].([]any); !reflect.DeepEqual(tags, []any{"kept", "grok_failure"}) {
		t.Errorf("tags %v", tags)
	}
	if msg, _ := ev.String("error.message"); !strings.Contains(msg, "grok (step 2): no pattern matched") {
		t.Errorf("error.message %q", msg)
	}
}

func TestDropWithCondition(t *testing.T) {
	p := mustCompile(t, `
- drop: {}
  if: 'message matches "^GET /healthz"'
`)
	if r := p.Run(event(t, `{"message":"GET /healthz 200"}`)); r.Dropped != "drop (step 1)" {
		t.Errorf("healthz: %+v", r)
	}
	if r := p.Run(event(t, `{"message":"GET /pay 200"}`)); r.Dropped != "" {
		t.Errorf("other request dropped: %+v", r)
	}
	// A missing field is nil in a condition: "exists" is != nil.
	q := mustCompile(t, "- set: {fields: {has_user: true}}\n  if: 'user != nil'\n")
	ev := event(t, `{"message":"x"}`)
	q.Run(ev)
	if _, ok := ev["has_user"]; ok {
		t.Error("condition on a missing field held")
	}
}

// TestCompileErrorsNameTheStep: what -check prints names the step by
// position and type, and the problem.
func TestCompileErrorsNameTheStep(t *testing.T) {
	for src, want := range map[string]string{
		"- grok: {patterns: ['%{NOSUCHPATTERN:x}']}": "step 1 (grok): patterns[0]",
		"- set: {fields: {a: 1}}\n- grok: {}":        "step 2 (grok): patterns: at least one",
		"- grok: {patterns: ['x'], feild: message}":  `step 1 (grok): settings: json: unknown field "feild"`,
		"- grk: {}": `step 1 (grk): unknown step type "grk" (one of add_fields,`,
		"- set: {fields: {a: 1}}\n  grok: {patterns: [x]}":       "needs exactly one step type",
		"- drop: {}\n  if: 'level =='":                           "step 1 (drop): if:",
		"- dissect: {tokenizer: 'no keys'}":                      "step 1 (dissect): tokenizer",
		"- dissect: {tokenizer: '%{a}%{b}'}":                     "have no delimiter between them",
		"- convert: {fields: {x: integer}}":                      `fields.x: "integer" is not one of int, float, bool, ip, string`,
		"- date: {field: ts, layouts: []}":                       "layouts: at least one",
		"- date: {field: ts, layouts: [x], timezone: Mars/Base}": `timezone: "Mars/Base"`,
		"- kv: {field_split: '=', value_split: '='}":             "field_split and value_split are both",
	} {
		_, err := compileYAML(t, src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want it to contain %q", src, err, want)
		}
	}
}

// TestDecodeAndEncode: fields no step reads are written back byte for byte
// (escapes, number forms), a nested object a step writes into is decoded
// one level, and the result is valid JSON equal to encoding/json's reading.
func TestDecodeAndEncode(t *testing.T) {
	doc := `{"message":"a \u00e9 \"q\"","n":1.50,"log":{"file":{"path":"/x"},"offset":12},"tags":["t"],"ok":true,"none":null}`
	ev, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ev.Set("log.level", "warn")
	ev.tag("x_failure")
	out, err := ev.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"log":{"file":{"path":"/x"},"level":"warn","offset":12},"message":"a \u00e9 \"q\"","n":1.50,"none":null,"ok":true,"tags":["t","x_failure"]}`
	if string(out) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", out, want)
	}
	var a, b any
	if json.Unmarshal(out, &a) != nil || json.Unmarshal([]byte(want), &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatal("not valid JSON")
	}
	if _, err := Decode([]byte(`[1]`)); err == nil {
		t.Error("an array decoded as an event")
	}
}
