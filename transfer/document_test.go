package transfer

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
)

var kafkaTime = time.Date(2026, 11, 5, 23, 59, 58, 123_000_000, time.UTC)

func newConverter(t testing.TB, parse map[string]string, jsonTarget string) *Converter {
	t.Helper()
	c, err := NewConverter(&conf.Transfer{Index: "{topic}-{date}", Parse: parse, JSONTarget: jsonTarget})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func message(topic, value string, headers ...string) *sarama.ConsumerMessage {
	m := &sarama.ConsumerMessage{Topic: topic, Partition: 2, Offset: 41, Value: []byte(value), Key: []byte("host/path"), Timestamp: kafkaTime}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(headers[i]), Value: []byte(headers[i+1])})
	}
	return m
}

// decode checks that a document is one line of valid JSON and returns it.
func decode(t *testing.T, d Doc) map[string]any {
	t.Helper()
	if bytes.IndexByte(d.Source, '\n') >= 0 {
		t.Fatalf("source has a newline (breaks NDJSON): %s", d.Source)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(d.Source))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("source is not a JSON object: %v\n%s", err, d.Source)
	}
	return m
}

// field walks a dotted path through nested objects.
func field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

const envelope = `{"@timestamp":"2026-11-04T10:00:00.000000001Z","message":"hello","host":{"name":"web1"},` +
	`"log":{"file":{"path":"/var/log/app.log"},"offset":1234},"event":{"id":"0123abcd"}}`

func TestDocumentIDs(t *testing.T) {
	c := newConverter(t, nil, "")
	cases := []struct {
		name string
		msg  *sarama.ConsumerMessage
		want string
	}{
		{"header wins", message("web_log", envelope, "event.id", "fromheader", "format", "envelope"), "fromheader"},
		{"envelope event.id", message("web_log", envelope, "format", "envelope"), "0123abcd"},
		{"dotted envelope key", message("web_log", `{"message":"x","event.id":"dotted"}`), "dotted"},
		{"raw with header", message("web_log", "a line", "event.id", "rawid", "format", "raw"), "rawid"},
		{"fallback", message("web_log", "a line", "format", "raw"), "web_log-2-41"},
		{"envelope without id", message("web_log", `{"message":"x"}`), "web_log-2-41"},
	}
	for _, tc := range cases {
		d := c.Document(tc.msg)
		if d.ID != tc.want {
			t.Errorf("%s: id %q, want %q", tc.name, d.ID, tc.want)
		}
		decode(t, d)
		if d.Meta.Topic != "web_log" || d.Meta.Partition != 2 || d.Meta.Offset != 41 || string(d.Meta.Value) != string(tc.msg.Value) {
			t.Errorf("%s: meta %+v", tc.name, d.Meta)
		}
	}
}

func TestDocumentEnvelopePassesThrough(t *testing.T) {
	c := newConverter(t, nil, "")
	d := c.Document(message("web_log", envelope, "format", "envelope"))
	if string(d.Source) != envelope {
		t.Errorf("envelope changed:\n%s\nwant\n%s", d.Source, envelope)
	}
	if d.Index != "web_log-2026.11.04" {
		t.Errorf("index %q, want the @timestamp's date", d.Index)
	}
}

func TestDocumentIndexDate(t *testing.T) {
	c := newConverter(t, nil, "")
	cases := []struct{ value, want string }{
		{`{"@timestamp":"2026-11-06T00:30:00+01:00","message":"x"}`, "web_log-2026.11.05"}, // UTC, not local
		{`{"@timestamp":"2026-01-02T03:04:05Z","message":"x"}`, "web_log-2026.01.02"},
		{`{"@timestamp":1767225600000,"message":"x"}`, "web_log-2026.01.01"}, // epoch millis
		{`{"@timestamp":"yesterday","message":"x"}`, "web_log-2026.11.05"},   // unparsable: Kafka time
		{`{"@timestamp":"2026-13-01T00:00:00Z","message":"x"}`, "web_log-2026.11.05"},
		{`{"message":"no stamp"}`, "web_log-2026.11.05"},
		{"raw line", "web_log-2026.11.05"},
	}
	for _, tc := range cases {
		if d := c.Document(message("web_log", tc.value)); d.Index != tc.want {
			t.Errorf("%s: index %q, want %q", tc.value, d.Index, tc.want)
		}
	}
	// A missing @timestamp is filled in from Kafka; a present one is never touched.
	d := c.Document(message("web_log", `{"message":"no stamp"}`))
	if got := field(decode(t, d), "@timestamp"); got != "2026-11-05T23:59:58.123000000Z" {
		t.Errorf("added @timestamp %v", got)
	}
	d = c.Document(message("web_log", `{}`))
	if m := decode(t, d); m["@timestamp"] == nil || len(m) != 1 {
		t.Errorf("empty envelope: %s", d.Source)
	}
}

func TestDocumentRawLines(t *testing.T) {
	c := newConverter(t, nil, "")
	d := c.Document(message("web_log", "GET / \"quoted\"\ttab\r\n", "format", "raw", "event.id", "e1"))
	want := `{"@timestamp":"2026-11-05T23:59:58.123000000Z","message":"GET / \"quoted\"\ttab","event":{"id":"e1"}}`
	if string(d.Source) != want {
		t.Errorf("raw doc\n%s\nwant\n%s", d.Source, want)
	}
	if d.Index != "web_log-2026.11.05" {
		t.Errorf("raw index %q", d.Index)
	}
	// Invalid UTF-8 is written as \xNN, as the agent does, and flagged.
	d = c.Document(message("web_log", "bad \xff byte", "format", "raw"))
	m := decode(t, d)
	if m["message"] != `bad \xff byte` || !reflect.DeepEqual(field(m, "log.flags"), []any{"invalid_utf8"}) {
		t.Errorf("invalid utf-8: %s", d.Source)
	}
	// A raw line that happens to be JSON stays a raw line when the header says raw.
	d = c.Document(message("web_log", `{"a":1}`, "format", "raw"))
	if m := decode(t, d); m["message"] != `{"a":1}` {
		t.Errorf("raw JSON line: %s", d.Source)
	}
}

func TestDocumentInvalidEnvelopeIsRaw(t *testing.T) {
	c := newConverter(t, nil, "")
	for _, v := range []string{`{"message": "cut off`, `not json at all`, `["an","array"]`, `"a string"`, ``} {
		d := c.Document(message("web_log", v, "format", "envelope"))
		m := decode(t, d)
		if m["message"] != v || m["@timestamp"] != "2026-11-05T23:59:58.123000000Z" {
			t.Errorf("%q: %s", v, d.Source)
		}
	}
}

func TestDocumentCompactsPrettyEnvelope(t *testing.T) {
	c := newConverter(t, nil, "")
	d := c.Document(message("web_log", "{\n  \"@timestamp\": \"2026-11-04T10:00:00Z\",\n  \"message\": \"multi\\nline\"\n}\n"))
	m := decode(t, d) // fails on a newline
	if m["message"] != "multi\nline" || d.Index != "web_log-2026.11.04" {
		t.Errorf("pretty envelope: %s", d.Source)
	}
}

func TestDocumentJSONParse(t *testing.T) {
	c := newConverter(t, map[string]string{"app": "json"}, "payload")
	inner := `{"level":"warn","n":12345678901234567,"ctx":{"user":"bob"},"s":"é \"q\" \u00e9 \ud83d\ude00"}`
	env, _ := json.Marshal(map[string]any{"@timestamp": "2026-11-04T10:00:00Z", "message": inner, "event": map[string]any{"id": "j1"}})
	d := c.Document(message("app", string(env)))
	m := decode(t, d)
	if field(m, "payload.level") != "warn" || field(m, "payload.ctx.user") != "bob" ||
		field(m, "payload.n") != json.Number("12345678901234567") || field(m, "payload.s") != "é \"q\" é 😀" {
		t.Errorf("parsed payload: %s", d.Source)
	}
	if m["message"] != inner || m["tags"] != nil || d.ID != "j1" {
		t.Errorf("message, tags or id changed: %s", d.Source)
	}

	// A message that is not a JSON object keeps its message and is tagged.
	for _, msg := range []string{"plain text", "[1,2]", `{"broken":`, "42"} {
		env, _ := json.Marshal(map[string]any{"message": msg})
		d := c.Document(message("app", string(env)))
		m := decode(t, d)
		if m["message"] != msg || !reflect.DeepEqual(m["tags"], []any{"parse_failure"}) || m["payload"] != nil {
			t.Errorf("%q: %s", msg, d.Source)
		}
	}
	// A raw line that is a JSON object is parsed too.
	d = c.Document(message("app", `{"k":"v"}`, "format", "raw"))
	if m := decode(t, d); field(m, "payload.k") != "v" || m["message"] != `{"k":"v"}` {
		t.Errorf("raw JSON line: %s", d.Source)
	}
	// Other topics are not parsed.
	d = c.Document(message("web_log", `{"message":"{\"k\":1}"}`))
	if m := decode(t, d); m["payload"] != nil {
		t.Errorf("unparsed topic got a payload: %s", d.Source)
	}
}

func TestDocumentCollidingFieldsAreMerged(t *testing.T) {
	c := newConverter(t, map[string]string{"app": "json", "web": "nginx"}, "")
	// Existing tags get parse_failure appended, not a second "tags" key.
	d := c.Document(message("app", `{"message":"not json","tags":["mine"]}`))
	if m := decode(t, d); !reflect.DeepEqual(m["tags"], []any{"mine", "parse_failure"}) || bytes.Count(d.Source, []byte(`"tags"`)) != 1 {
		t.Errorf("tags merge: %s", d.Source)
	}
	// An existing object under the target is merged into.
	d = c.Document(message("app", `{"message":"{\"a\":1}","json":{"b":2}}`))
	if m := decode(t, d); field(m, "json.a") != json.Number("1") || field(m, "json.b") != json.Number("2") {
		t.Errorf("json merge: %s", d.Source)
	}
	// The producer's own http field wins over parsed sub-fields it already has.
	line := `1.2.3.4 - - [05/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 404 0 "-" "-"`
	env, _ := json.Marshal(map[string]any{"message": line, "http": map[string]any{"version": "custom"}, "offset": 1 << 60})
	d = c.Document(message("web", string(env)))
	m := decode(t, d)
	if field(m, "http.version") != "custom" || field(m, "http.response.status_code") != json.Number("404") ||
		m["offset"] != json.Number("1152921504606846976") {
		t.Errorf("http merge: %s", d.Source)
	}
}

func TestDocumentAccessLogParse(t *testing.T) {
	c := newConverter(t, map[string]string{"web_log": "nginx", "apache": "combined"}, "")
	cases := []struct {
		line string
		want map[string]any // dotted path → value; nil value: absent
	}{
		{`203.0.113.9 - alice [05/Nov/2026:10:00:00 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "https://example.com/" "Mozilla/5.0 (X11; Linux)"`,
			map[string]any{"source.address": "203.0.113.9", "user.name": "alice", "http.request.method": "GET",
				"url.original": "/index.html?q=1", "http.version": "1.1", "http.response.status_code": json.Number("200"),
				"http.response.body.bytes": json.Number("612"), "http.request.referrer": "https://example.com/",
				"user_agent.original": "Mozilla/5.0 (X11; Linux)", "tags": nil}},
		{`::1 - - [05/Nov/2026:10:00:00 +0000] "POST /api HTTP/2.0" 201 - "-" "curl/8.0" "10.0.0.1"`, // nginx main: extra field
			map[string]any{"source.address": "::1", "user": nil, "http.version": "2.0", "http.response.body.bytes": nil,
				"http.request.referrer": nil, "user_agent.original": "curl/8.0", "http.response.status_code": json.Number("201")}},
		{`10.0.0.1 - - [05/Nov/2026:10:00:00 +0000] "GET /common" 304 0`, // common log format, HTTP/0.9 style request
			map[string]any{"url.original": "/common", "http.version": nil, "http.response.body.bytes": json.Number("0"), "user_agent": nil}},
		{`10.0.0.1 - - [05/Nov/2026:10:00:00 +0000] "\x16\x03\x01" 400 157 "-" "-"`, // TLS on the plain port
			map[string]any{"http.request": nil, "url": nil, "http.response.status_code": json.Number("400"), "tags": nil}},
		{`10.0.0.1 - - [05/Nov/2026:10:00:00 +0000] "GET /q?a=\"b\" HTTP/1.1" 200 1 "-" "say \"hi\""`, // Apache's \" escapes
			map[string]any{"url.original": `/q?a=\"b\"`, "user_agent.original": `say \"hi\"`}},
	}
	for _, tc := range cases {
		for _, topic := range []string{"web_log", "apache"} {
			env, _ := json.Marshal(map[string]any{"@timestamp": "2026-11-05T10:00:00Z", "message": tc.line})
			for _, d := range []Doc{c.Document(message(topic, string(env))), c.Document(message(topic, tc.line, "format", "raw"))} {
				m := decode(t, d)
				if m["message"] != tc.line {
					t.Errorf("%s: message changed: %s", tc.line, d.Source)
				}
				for path, want := range tc.want {
					if got := field(m, path); !reflect.DeepEqual(got, want) {
						t.Errorf("%s: %s = %#v, want %#v\n%s", tc.line, path, got, want, d.Source)
					}
				}
			}
		}
	}
	for _, bad := range []string{"hello world", "", `1.2.3.4 - - [no end "GET /" 200 1`, `1.2.3.4 - - [x] "GET /" abc 1`, `1.2.3.4 - - [x] "GET /" 200 -5`} {
		env, _ := json.Marshal(map[string]any{"message": bad})
		d := c.Document(message("web_log", string(env)))
		m := decode(t, d)
		if m["message"] != bad || !reflect.DeepEqual(m["tags"], []any{"parse_failure"}) || m["http"] != nil {
			t.Errorf("%q: %s", bad, d.Source)
		}
	}
	// An envelope without a string message cannot be parsed either.
	d := c.Document(message("web_log", `{"message":42}`))
	if m := decode(t, d); !reflect.DeepEqual(m["tags"], []any{"parse_failure"}) {
		t.Errorf("non-string message: %s", d.Source)
	}
}

func TestIndexPattern(t *testing.T) {
	c, err := NewConverter(&conf.Transfer{Index: "logs-{topic}-x-{date}"})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Document(message("web_log", "x")); d.Index != "logs-web_log-x-2026.11.05" {
		t.Errorf("index %q", d.Index)
	}
	if _, err := NewConverter(&conf.Transfer{Index: "{topic}-{day}"}); err == nil {
		t.Error("unknown placeholder accepted")
	}
}

func BenchmarkDocument(b *testing.B) {
	line := `203.0.113.9 - alice [05/Nov/2026:10:00:00 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"`
	env, _ := json.Marshal(map[string]any{"@timestamp": "2026-11-04T10:00:00.000000001Z", "message": line,
		"host": map[string]any{"name": "web1"}, "log": map[string]any{"file": map[string]any{"path": "/var/log/nginx/access.log"}, "offset": 123456},
		"event": map[string]any{"id": "0123456789abcdef0123456789abcdef"}})
	jsonEnv, _ := json.Marshal(map[string]any{"@timestamp": "2026-11-04T10:00:00.000000001Z",
		"message": `{"level":"info","msg":"request done","status":200,"duration_ms":12.5,"path":"/api/v1/items"}`,
		"host":    map[string]any{"name": "web1"}, "event": map[string]any{"id": "0123456789abcdef0123456789abcdef"}})
	cases := []struct {
		name, topic string
		value       []byte
		headers     []string
	}{
		{"envelope", "plain", env, []string{"event.id", "0123456789abcdef0123456789abcdef", "format", "envelope"}},
		{"envelope-nginx", "web", env, []string{"event.id", "0123456789abcdef0123456789abcdef", "format", "envelope"}},
		{"envelope-json", "app", jsonEnv, []string{"event.id", "0123456789abcdef0123456789abcdef", "format", "envelope"}},
		{"raw", "plain", []byte(line), []string{"event.id", "0123456789abcdef0123456789abcdef", "format", "raw"}},
		{"raw-nginx", "web", []byte(line), []string{"event.id", "0123456789abcdef0123456789abcdef", "format", "raw"}},
	}
	c := newConverter(b, map[string]string{"web": "nginx", "app": "json"}, "")
	for _, tc := range cases {
		msg := message(tc.topic, string(tc.value), tc.headers...)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.value)))
			for b.Loop() {
				_ = c.Document(msg)
			}
		})
	}
}
