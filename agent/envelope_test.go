package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEnvelopeIsNestedJSON(t *testing.T) {
	enc := newEnvelopeEncoder("web-1", `/var/log/"x".log`, map[string]string{"env": "prod", "dc": "eu"})
	seed := newEventIDSeed("web-1", "origin")
	var sc stampCache
	stamp := sc.format(time.Date(2026, 11, 26, 10, 0, 0, 5, time.UTC))
	msg := []byte("bad \xff byte, tab\t, quote\" and é")
	out := enc.appendEvent(nil, stamp, msg, 42, FlagSplit, seed.appendEventID(nil, 42))

	var ev struct {
		Timestamp string `json:"@timestamp"`
		Message   string `json:"message"`
		Host      struct{ Name string }
		Log       struct {
			File   struct{ Path string }
			Offset int64
			Flags  []string
		}
		Event  struct{ ID string }
		Fields map[string]string
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if ev.Timestamp != "2026-11-26T10:00:00.000000005Z" {
		t.Errorf("@timestamp = %q", ev.Timestamp)
	}
	if ev.Message != `bad \xff byte, tab`+"\t"+`, quote" and é` {
		t.Errorf("message = %q", ev.Message)
	}
	if ev.Host.Name != "web-1" || ev.Log.File.Path != `/var/log/"x".log` || ev.Log.Offset != 42 {
		t.Errorf("host/path/offset = %q %q %d", ev.Host.Name, ev.Log.File.Path, ev.Log.Offset)
	}
	if strings.Join(ev.Log.Flags, ",") != "split,invalid_utf8" {
		t.Errorf("flags = %v", ev.Log.Flags)
	}
	if len(ev.Event.ID) != 32 || ev.Fields["env"] != "prod" || ev.Fields["dc"] != "eu" {
		t.Errorf("id %q fields %v", ev.Event.ID, ev.Fields)
	}
}

func TestEventIDDeterministicAndDistinct(t *testing.T) {
	// A value fixed when the format was: ids must not depend on anything a
	// process has of its own (time, randomness, memory), or a line re-sent
	// after a restart would be indexed twice.
	seed := newEventIDSeed("web-1", "0123456789abcdef0123456789abcdef")
	if got, want := string(seed.appendEventID(nil, 4096)), "f894b329a15474090000000000001000"; got != want {
		t.Fatalf("id of web-1/origin/4096 = %s, want %s (SHA-256(host, 0, origin)[:8], then the offset)", got, want)
	}
	a := newEventIDSeed("h", "o1")
	b := newEventIDSeed("h", "o2")
	if string(a.appendEventID(nil, 7)) != string(a.appendEventID(nil, 7)) {
		t.Fatal("same line, different ids")
	}
	seen := map[string]bool{}
	for off := int64(0); off < 1000; off++ {
		for _, s := range []*eventIDSeed{&a, &b} {
			id := string(s.appendEventID(nil, off))
			if seen[id] {
				t.Fatalf("id %s repeated", id)
			}
			seen[id] = true
		}
	}
}

func BenchmarkEnvelope(b *testing.B) {
	enc := newEnvelopeEncoder("web-1", "/var/log/nginx/access.log", nil)
	seed := newEventIDSeed("web-1", "0123456789abcdef0123456789abcdef")
	line := []byte(`10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /index.html?q=a-fairly-long-query-string HTTP/1.1" 200 2326 "http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64)"`)
	var sc stampCache
	stamp := sc.format(time.Now())
	buf := make([]byte, 0, 1024)
	var idBuf [32]byte
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		id := seed.appendEventID(idBuf[:0], int64(i))
		buf = enc.appendEvent(buf[:0], stamp, line, int64(i), 0, id)
	}
}
