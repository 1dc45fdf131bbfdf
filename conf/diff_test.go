package conf

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestChanged(t *testing.T) {
	load := func(yaml string) *Transfer {
		t.Helper()
		c, err := LoadTransfer(writeConfig(t, yaml))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := "kafka:\n  brokers: [\"k1:9092\"]\nelasticsearch:\n  username: u\n  password: env:ES_PW\n"
	a := load(base)
	if got := Changed(a, load(base)); len(got) != 0 {
		t.Errorf("same file: changed %v", got)
	}
	b := load(base + "log_level: debug\nbatch: {max_docs: 10}\nhttp_listen: 127.0.0.1:1\n")
	if got, want := Changed(a, b), []string{"batch", "http_listen", "log_level"}; !slices.Equal(got, want) {
		t.Errorf("changed %v, want %v (in field order)", got, want)
	}
	c := load("kafka:\n  brokers: [\"k1:9092\", \"k2:9092\"]\nelasticsearch:\n  username: u\n  password: file:/pw\n")
	if got, want := Changed(a, c), []string{"kafka", "elasticsearch"}; !slices.Equal(got, want) {
		t.Errorf("changed %v, want %v", got, want)
	}
}

func TestCredentialDigest(t *testing.T) {
	dir := t.TempDir()
	pw, ca := filepath.Join(dir, "pw"), filepath.Join(dir, "ca.pem")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(pw, "one\n")
	write(ca, "cert one")
	es := Elasticsearch{Username: "u", Password: Secret("file:" + pw), TLS: TLS{Enabled: true, CAFile: ca}}
	digest := func() string {
		t.Helper()
		d, err := es.CredentialDigest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest()
	if digest() != first {
		t.Error("digest of unchanged files differs")
	}
	write(pw, "two\n")
	second := digest()
	if second == first {
		t.Error("a rotated password file leaves the digest unchanged")
	}
	write(ca, "cert two")
	if digest() == second {
		t.Error("a rotated CA file leaves the digest unchanged")
	}
	unset := Kafka{SASL: SASL{Password: "env:LOGAGENT_TEST_UNSET_PW"}}
	if _, err := unset.CredentialDigest(); err == nil {
		t.Error("an unresolvable secret gives no error")
	}
}
