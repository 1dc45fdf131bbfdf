package pipeline

import (
	"strings"
	"testing"
)

// runStep compiles one step and applies it to ev, returning the result.
func runStep(t *testing.T, step, ev string) (Event, Result) {
	t.Helper()
	e := event(t, ev)
	return e, mustCompile(t, step).Run(e)
}

func TestStepCases(t *testing.T) {
	for _, c := range []struct {
		name, step, in, want, failed string
	}{
		{"dissect", `- dissect: {tokenizer: '%{client} - %{user} [%{ts}] "%{method} %{path}"'}`,
			`{"message":"10.0.0.1 - ann [04/Dec/2026:10:00:00] \"GET /pay\""}`,
			`{"client":"10.0.0.1","message":"10.0.0.1 - ann [04/Dec/2026:10:00:00] \"GET /pay\"","method":"GET","path":"/pay","ts":"04/Dec/2026:10:00:00","user":"ann"}`, ""},
		{"dissect skip, append, padding", `- dissect: {tokenizer: '%{?x} %{+name} %{+name} %{level->} %{rest}', target_prefix: p}`,
			`{"message":"drop ann lee WARN     the rest of it"}`,
			`{"message":"drop ann lee WARN     the rest of it","p":{"level":"WARN","name":"ann lee","rest":"the rest of it"}}`, ""},
		{"dissect mismatch", `- dissect: {tokenizer: '%{a} [%{b}]'}`, `{"message":"no brackets"}`, "", "dissect (step 1)"},
		{"json into target", `- json: {target: payload}`, `{"message":"{\"a\":1,\"b\":[true]}"}`,
			`{"message":"{\"a\":1,\"b\":[true]}","payload":{"a":1,"b":[true]}}`, ""},
		{"json into the root", `- json: {}`, `{"message":"{\"level\":\"info\",\"n\":2}"}`,
			`{"level":"info","message":"{\"level\":\"info\",\"n\":2}","n":2}`, ""},
		{"json not JSON", `- json: {}`, `{"message":"plain"}`, "", "json (step 1)"},
		{"kv", `- kv: {target: kv}`, `{"message":"user=ann status=200 msg=\"payment failed\" junk"}`,
			`{"kv":{"msg":"payment failed","status":"200","user":"ann"},"message":"user=ann status=200 msg=\"payment failed\" junk"}`, ""},
		{"kv other separators", `- kv: {field_split: '&', value_split: ':'}`, `{"message":"a:1&b:2"}`, `{"a":"1","b":"2","message":"a:1\u0026b:2"}`, ""},
		{"date unix ms", `- date: {field: t, layouts: [UNIX_MS]}`, `{"t":1764842400123}`, `{"@timestamp":"2025-12-04T10:00:00.123000000Z","t":1764842400123}`, ""},
		{"date iso8601 to a target", `- date: {field: t, layouts: [ISO8601], target: event.created}`, `{"t":"2026-12-04T10:00:00+01:00"}`,
			`{"event":{"created":"2026-12-04T09:00:00.000000000Z"},"t":"2026-12-04T10:00:00+01:00"}`, ""},
		{"date no layout fits", `- date: {field: t, layouts: ["2006-01-02"]}`, `{"t":"yesterday"}`, "", "date (step 1)"},
		{"rename into nested", `- rename: {fields: {status: http.response.status_code, missing: x}}`, `{"status":"200"}`,
			`{"http":{"response":{"status_code":"200"}}}`, ""},
		{"remove", `- remove: {fields: [a, b.c, nope]}`, `{"a":1,"b":{"c":2,"d":3}}`, `{"b":{"d":3}}`, ""},
		{"convert", `- convert: {fields: {s: int, f: float, b: bool, ip: ip, n: string}}`, `{"s":"200","f":"0.25","b":"true","ip":" 10.0.0.1 ","n":5}`,
			`{"b":true,"f":0.25,"ip":"10.0.0.1","n":"5","s":200}`, ""},
		{"convert fails", `- convert: {fields: {s: int}}`, `{"s":"lots"}`, "", "convert (step 1)"},
		{"lowercase", `- lowercase: {fields: [level, nope]}`, `{"level":"WARN"}`, `{"level":"warn"}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev, r := runStep(t, c.step, c.in)
			if r.Failed != c.failed {
				t.Fatalf("Run = %+v (%s), want failed %q", r, asJSON(ev), c.failed)
			}
			if c.want != "" && asJSON(ev) != c.want {
				t.Fatalf("event\n%s\nwant\n%s", asJSON(ev), c.want)
			}
			if c.failed != "" && !strings.Contains(asJSON(ev), `"tags":["`+strings.Fields(c.failed)[0]+`_failure"]`) {
				t.Fatalf("failure not tagged: %s", asJSON(ev))
			}
		})
	}
}

func TestEventPaths(t *testing.T) {
	ev := event(t, `{"event.id":"flat","a":{"b":{"c":1}},"s":"x"}`)
	if v, ok := ev.Get("event.id"); !ok || v != "flat" {
		t.Errorf("a key with dots: %v %v", v, ok)
	}
	if v, ok := ev.Get("a.b.c"); !ok || v.(float64) != 1 {
		t.Errorf("nested: %v %v", v, ok)
	}
	if _, ok := ev.Get("s.x"); ok {
		t.Error("a path through a string")
	}
	ev.Set("s.x", 2) // replaces the string on the way
	if !ev.Delete("s.x") || ev.Delete("s.x") {
		t.Error("Delete")
	}
}
