package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseCollectConfig: a collect config is untrusted input (anyone with
// write access to etcd, or a typo). The validator never panics, rejects
// only with a *ConfigError, and what it accepts is canonical: encoded again
// it parses to the same config, and that encoding is a fixed point.
// Seeds: testdata/fuzz/FuzzParseCollectConfig.
func FuzzParseCollectConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseCollectConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("rejected without a ConfigError naming the problem: %v", err)
			}
			if entries != nil {
				t.Fatalf("rejected, yet returned %d entries", len(entries))
			}
			return
		}
		once := encodeEntries(t, entries)
		again, err := ParseCollectConfig(once)
		if err != nil {
			t.Fatalf("accepted %q, but not its own encoding %s: %v", data, once, err)
		}
		if twice := encodeEntries(t, again); !bytes.Equal(once, twice) {
			t.Fatalf("accepted %q as %s, which parses to %s", data, once, twice)
		}
		for i := range again {
			if m, n := entries[i].Multiline, again[i].Multiline; m != nil && m.TimeoutDuration() != n.TimeoutDuration() {
				t.Fatalf("entry %d: multiline timeout %v, re-parsed %v", i, m.TimeoutDuration(), n.TimeoutDuration())
			}
		}
	})
}

func encodeEntries(t *testing.T, entries []Entry) []byte {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatalf("encode %+v: %v", entries, err)
	}
	return b
}
