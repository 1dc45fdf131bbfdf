package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSecretsNamesEachFailure(t *testing.T) {
	t.Setenv("LOGAGENT_TEST_SET", "v")
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	if err := os.WriteFile(present, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ResolveSecrets([]NamedSecret{
		{"a.password", "env:LOGAGENT_TEST_SURELY_UNSET"},
		{"b.password", Secret("file:" + filepath.Join(dir, "missing"))},
		{"c.password", "env:LOGAGENT_TEST_SET"},
		{"d.password", Secret("file:" + present)},
		{"e.password", "literal"},
		{"f.password", ""},
	})
	if err == nil {
		t.Fatal("a missing variable and a missing file were accepted")
	}
	for _, want := range []string{"a.password: environment variable LOGAGENT_TEST_SURELY_UNSET is not set", "b.password: read secret file:", "missing: no such file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, field := range []string{"c.password", "d.password", "e.password", "f.password"} {
		if strings.Contains(err.Error(), field) {
			t.Errorf("error %q names %s, which resolves", err, field)
		}
	}
}

func TestCheckSecretExposure(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	private, worldReadable, groupReadable := write("private.yaml", 0o600), write("world.yaml", 0o644), write("group.yaml", 0o640)
	sharedSecret := Secret("file:" + write("shared-pw", 0o644))
	literal := []NamedSecret{{"kafka.sasl.password", "hunter2"}, {"etcd.password", "env:X"}}

	if err := CheckSecretExposure(private, literal); err != nil {
		t.Errorf("a 0600 file with a literal secret: %v", err)
	}
	if err := CheckSecretExposure(worldReadable, []NamedSecret{{"etcd.password", "env:X"}, {"kafka.sasl.password", ""}}); err != nil {
		t.Errorf("a readable file without literal secrets: %v", err)
	}
	for _, path := range []string{worldReadable, groupReadable} {
		err := CheckSecretExposure(path, literal)
		if err == nil || !strings.Contains(err.Error(), path+" holds the literal secret of kafka.sasl.password: "+path+" is readable by group or others (mode 06") ||
			!strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "etcd.password") {
			t.Errorf("%s with a literal secret: %v", path, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the message shows the secret: %v", err)
		}
	}
	err := CheckSecretExposure(private, []NamedSecret{{"elasticsearch.api_key", sharedSecret}})
	if err == nil || !strings.Contains(err.Error(), "elasticsearch.api_key: secret file "+strings.TrimPrefix(string(sharedSecret), "file:")+" is readable by group or others (mode 0644)") {
		t.Errorf("a world-readable secret file: %v", err)
	}
}

func TestSecretSource(t *testing.T) {
	for s, want := range map[Secret]string{"": "", "env:PW": "env:PW", "file:/etc/pw": "file:/etc/pw", "hunter2": "literal"} {
		if got := s.Source(); got != want {
			t.Errorf("Source(%q) = %q, want %q", string(s), got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:pw@host:2379":   "http://user:xxxxx@host:2379",
		"user:p@ss@host:2379":        "user:xxxxx@host:2379",
		"https://user@host":          "https://user@host",
		"127.0.0.1:2379":             "127.0.0.1:2379",
		"http://127.0.0.1:4080/es":   "http://127.0.0.1:4080/es",
		"unix://u:pw@/run/etcd.sock": "unix://u:xxxxx@/run/etcd.sock",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEtcdEndpointWithCredentialsRefused(t *testing.T) {
	for _, ep := range []string{"http://root:hunter2@10.0.0.1:2379", "root:hunter2@10.0.0.1:2379"} {
		_, err := LoadAgent(writeConfig(t, "kafka:\n  brokers: [\"k:1\"]\netcd:\n  endpoints: [\""+ep+"\"]\n"))
		if err == nil || !strings.Contains(err.Error(), "etcd.endpoints:") || !strings.Contains(err.Error(), "root:xxxxx@10.0.0.1:2379") ||
			strings.Contains(err.Error(), "hunter2") {
			t.Errorf("endpoint %s: %v", ep, err)
		}
	}
}
