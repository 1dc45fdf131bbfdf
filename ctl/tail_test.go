package ctl

import (
	"regexp"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestTailLinesAndFilters(t *testing.T) {
	env := &sarama.ConsumerMessage{Value: []byte(`{"@timestamp":"x","message":"ERROR boom","host":{"name":"web1"},"log":{"file":{"path":"/var/log/app/a.log"},"offset":0}}`),
		Headers: []*sarama.RecordHeader{{Key: []byte("format"), Value: []byte("envelope")}}}
	raw := &sarama.ConsumerMessage{Key: []byte("web2/var/log/nginx/access.log"), Value: []byte("GET / 200"),
		Headers: []*sarama.RecordHeader{{Key: []byte("format"), Value: []byte("raw")}}}
	e, r := lineOf(env), lineOf(raw)
	if e.Host != "web1" || e.Path != "/var/log/app/a.log" || e.Message != "ERROR boom" || e.Envelope == nil {
		t.Errorf("envelope line %+v", e)
	}
	if r.Host != "web2" || r.Path != "/var/log/nginx/access.log" || r.Message != "GET / 200" || r.Envelope != nil {
		t.Errorf("raw line %+v", r)
	}
	for _, c := range []struct {
		opt  TailOptions
		line tailLine
		want bool
	}{
		{TailOptions{Host: "web1"}, e, true},
		{TailOptions{Host: "web2"}, e, false},
		{TailOptions{Path: "a.log"}, e, true},
		{TailOptions{Path: "*.log"}, r, true},
		{TailOptions{Path: "/var/log/**/a.log"}, e, true},
		{TailOptions{Path: "/var/log/*.log"}, e, false},
		{TailOptions{Grep: regexp.MustCompile("^ERROR")}, e, true},
		{TailOptions{Grep: regexp.MustCompile("^ERROR")}, r, false},
	} {
		if got := c.opt.keeps(c.line); got != c.want {
			t.Errorf("%+v keeps %+v = %v, want %v", c.opt, c.line, got, c.want)
		}
	}
	var b strings.Builder
	if err := writeTailLine(&b, r, true); err != nil || !strings.Contains(b.String(), `"message":"GET / 200"`) || !strings.Contains(b.String(), `"name":"web2"`) {
		t.Errorf("raw line as JSON: %s %v", b.String(), err)
	}
}
