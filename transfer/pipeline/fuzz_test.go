package pipeline

import (
	"strings"
	"testing"
)

// The parsing steps see whatever applications log: they never panic, and
// what dissect and kv extract is text of the input.

func FuzzGrok(f *testing.F) {
	for _, s := range []string{"2026-12-02 10:01:02.123 ERROR [req=ab12] payment failed latency=12ms", "", "\x00\xff", "[req=] latency=ms"} {
		f.Add(s)
	}
	p := mustCompileF(f, `- grok: {patterns: ['^%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} \[req=%{WORD:req}\] %{DATA:msg} latency=%{NUMBER:ms:int}ms$', '%{GREEDYDATA:rest}']}`)
	f.Fuzz(func(t *testing.T, line string) {
		ev := Event{"message": line}
		if r := p.Run(ev); r.Dropped != "" {
			t.Fatalf("grok dropped an event: %+v", r)
		}
	})
}

func FuzzDissect(f *testing.F) {
	for _, s := range []string{`10.0.0.1 - ann [04/Dec/2026] "GET /"`, "", " - [] \"\"", "a - b [c"} {
		f.Add(s)
	}
	p := mustCompileF(f, `- dissect: {tokenizer: '%{client} - %{+user} [%{ts->}] "%{request}"'}`)
	f.Fuzz(func(t *testing.T, line string) {
		ev := Event{"message": line}
		r := p.Run(ev)
		if r.Failed != "" {
			return
		}
		for _, k := range []string{"client", "user", "ts", "request"} {
			if v, _ := ev.String(k); !strings.Contains(line, v) {
				t.Fatalf("%s = %q is not text of %q", k, v, line)
			}
		}
	})
}

func FuzzKV(f *testing.F) {
	for _, s := range []string{`user=ann status=200 msg="payment failed"`, "", "=", `a="b c" d=`, `"=" x==y`} {
		f.Add(s)
	}
	p := mustCompileF(f, `- kv: {target: kv}`)
	f.Fuzz(func(t *testing.T, line string) {
		ev := Event{"message": line}
		if r := p.Run(ev); r.Failed != "" {
			return
		}
		kv, _ := ev["kv"].(map[string]any)
		for k, v := range flatten(kv) {
			if !strings.Contains(line, k) || !strings.Contains(line, v) {
				t.Fatalf("pair %q=%q is not text of %q", k, v, line)
			}
		}
	})
}

// flatten lists the leaves of a decoded object by their last key.
func flatten(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			for k2, v2 := range flatten(x) {
				out[k2] = v2
			}
		case string:
			out[k] = x
		}
	}
	return out
}

func mustCompileF(f *testing.F, src string) *Pipeline {
	var specs []Spec
	if err := yamlUnmarshal([]byte(src), &specs); err != nil {
		f.Fatal(err)
	}
	p, err := Compile(specs, nil)
	if err != nil {
		f.Fatal(err)
	}
	return p
}
