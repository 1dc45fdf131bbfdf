package transfer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logagent/logagent/internal/jsonx"
)

// fuzzTopics are converted in every fuzz run: no parser, nginx, json.
var fuzzTopics = []string{"plain", "web_log", "json_log"}

// FuzzEnvelope: Kafka values are untrusted (any producer may write to the
// topics). Document never panics and always makes one line of valid JSON
// with an id and an index. On a valid JSON object the hand-written scanner
// agrees with encoding/json, member by member, and without a parser the
// document keeps every field of the event as it was.
// Seeds: testdata/fuzz/FuzzEnvelope.
func FuzzEnvelope(f *testing.F) {
	c := newConverter(f, map[string]string{"web_log": "nginx", "json_log": "json"}, "")
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, topic := range fuzzTopics {
			d := c.Document(message(topic, string(value), "format", "envelope"))
			if !json.Valid(d.Source) || bytes.IndexByte(d.Source, '\n') >= 0 || d.Source[0] != '{' {
				t.Fatalf("%s: value %q became a source that is not one line of a JSON object: %s", topic, value, d.Source)
			}
			if d.ID == "" || !strings.HasPrefix(d.Index, topic+"-") {
				t.Fatalf("%s: value %q: id %q index %q", topic, value, d.ID, d.Index)
			}
		}
		v, isObject := jsonObject(value)
		if !isObject || !utf8.Valid(v) { // encoding/json replaces what is not UTF-8; the scanner keeps it
			return
		}
		requireScannerAgrees(t, v)
		requireFieldsKept(t, v, c.Document(message("plain", string(value), "format", "envelope")).Source)
	})
}

// requireScannerAgrees compares scanMembers and unquote with what
// encoding/json reads from the object v.
func requireScannerAgrees(t *testing.T, v []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(v))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	ms := jsonx.Members(v, nil)
	n := 0
	for ; dec.More(); n++ {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if n >= len(ms) {
			t.Fatalf("%s: the scanner found %d members, encoding/json more", v, len(ms))
		}
		if k, ok := jsonx.Unquote(ms[n].Key); !ok || string(k) != key.(string) || !bytes.Equal(ms[n].Val, raw) {
			t.Fatalf("%s: member %d scanned as %s: %s, encoding/json reads %q: %s", v, n, ms[n].Key, ms[n].Val, key, raw)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if u, ok := jsonx.Unquote(raw); !ok || string(u) != s {
				t.Fatalf("%s: jsonx.Unquote(%s) = %q, %v; encoding/json reads %q", v, raw, u, ok, s)
			}
		}
	}
	if n != len(ms) {
		t.Fatalf("%s: the scanner found %d members, encoding/json %d", v, len(ms), n)
	}
}

// requireFieldsKept fails unless every field of the event v is in the
// document src with the same value.
func requireFieldsKept(t *testing.T, v, src []byte) {
	t.Helper()
	event, doc := decodeObject(t, v), decodeObject(t, src)
	for k, want := range event {
		if got, ok := doc[k]; !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("event %s: field %q is %v in the document %s, want %v", v, k, got, src, want)
		}
	}
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// FuzzAccessLog: access lines are untrusted (anyone can send a request
// line). parseAccessLog never panics; what it accepts has an address and a
// three-digit status taken from the line, and its ECS fields are valid JSON
// that say what the line said.
// Seeds: testdata/fuzz/FuzzAccessLog.
func FuzzAccessLog(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		var a accessLog
		if !parseAccessLog(line, &a) {
			return
		}
		addr, _, _ := bytes.Cut(line, []byte(" "))
		if !bytes.Equal(a.addr, addr) || len(addr) == 0 {
			t.Fatalf("%q: address %q, want the first field %q", line, a.addr, addr)
		}
		if a.status < 0 || a.status > 999 || !bytes.Contains(line, fmt.Appendf(nil, "%03d", a.status)) {
			t.Fatalf("%q: status %d", line, a.status)
		}
		ecs := a.appendECS([]byte(`{"message":"x"`))
		ecs = append(ecs, '}')
		if !json.Valid(ecs) {
			t.Fatalf("%q: ECS fields are not JSON: %s", line, ecs)
		}
		if !utf8.Valid(line) {
			return // not-UTF-8 bytes are written as \xNN
		}
		var doc struct {
			Source struct{ Address string }
			HTTP   struct {
				Response struct {
					StatusCode int `json:"status_code"`
				}
			}
		}
		if err := json.Unmarshal(ecs, &doc); err != nil || doc.Source.Address != string(a.addr) || doc.HTTP.Response.StatusCode != a.status {
			t.Fatalf("%q: ECS %s does not say what was parsed (%v)", line, ecs, err)
		}
	})
}

// FuzzAccessLogRoundTrip: any combined-format line built from fields
// parses back to those fields.
// Seeds: testdata/fuzz/FuzzAccessLogRoundTrip.
func FuzzAccessLogRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, addr, user, method, url string, status uint16, size int64, referrer, agent string) {
		addr, user = token(addr, "10.0.0.1"), token(user, "-")
		method = strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r
			}
			return -1
		}, method)
		if method == "" || len(method) > 20 {
			method = "GET"
		}
		url = token(strings.ReplaceAll(url, `"`, ""), "/")
		referrer, agent = strings.ReplaceAll(referrer, `"`, ""), strings.ReplaceAll(agent, `"`, "")
		referrer, agent = strings.ReplaceAll(referrer, `\`, ""), strings.ReplaceAll(agent, `\`, "")
		status %= 1000
		size = max(size, 0)
		line := fmt.Sprintf(`%s - %s [26/Nov/2026:10:00:00 +0000] "%s %s HTTP/1.1" %03d %d "%s" "%s"`, addr, user, method, url, status, size, referrer, agent)

		var a accessLog
		if !parseAccessLog([]byte(line), &a) {
			t.Fatalf("%q not parsed", line)
		}
		want := accessLog{addr: []byte(addr), user: orNil(user), method: []byte(method), url: []byte(url), version: []byte("1.1"),
			referrer: orNil(referrer), agent: orNil(agent), status: int(status), bytes: size, hasBytes: true}
		if !reflect.DeepEqual(a, want) {
			t.Fatalf("%q parsed as %+v, want %+v", line, a, want)
		}
	})
}

// token makes s one space-free field, def when nothing is left.
func token(s, def string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, " ", "")), "")
	if s == "" {
		return def
	}
	return s
}

// orNil is how parseAccessLog reports a field: nil when "-" or empty.
func orNil(s string) []byte {
	if s == "" || s == "-" {
		return nil
	}
	return []byte(s)
}
