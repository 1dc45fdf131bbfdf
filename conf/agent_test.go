package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadAgentDefaults(t *testing.T) {
	a, err := LoadAgent(writeConfig(t, "kafka:\n  brokers: [\"k1:9092\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if a.HostID != host || a.StateDir != "/var/lib/logagent" || a.HTTPListen != "127.0.0.1:9431" {
		t.Errorf("host/state/http defaults: %q %q %q", a.HostID, a.StateDir, a.HTTPListen)
	}
	if a.Kafka.Compression != "snappy" || a.Kafka.Acks != "all" || !*a.Kafka.Idempotent || a.Kafka.Version != "2.8.0" {
		t.Errorf("kafka defaults: %+v", a.Kafka)
	}
	if a.Etcd.Prefix != "/logagent/" || a.Etcd.Endpoints[0] != "127.0.0.1:2379" {
		t.Errorf("etcd defaults: %+v", a.Etcd)
	}
	if a.Limits.MaxLineBytes != 256<<10 || a.Limits.MaxBytesInFlight != 16<<20 || a.Limits.MemoryLimit != 48<<20 {
		t.Errorf("limits: %+v", a.Limits)
	}
	if a.Files.RotateWait != 5*time.Second || a.Files.CloseInactive != 5*time.Minute || a.Files.FlushInterval != time.Second {
		t.Errorf("files: %+v", a.Files)
	}
	sc, err := a.Kafka.Sarama()
	if err != nil || !sc.Producer.Idempotent || sc.Net.MaxOpenRequests != 1 {
		t.Errorf("sarama config: %v %+v", err, sc.Producer)
	}
}

func TestLoadAgentErrorsNameTheField(t *testing.T) {
	cases := []struct{ body, want string }{
		{"kafka:\n  brokers: []\n", "kafka.brokers"},
		{"kafka:\n  brokers: [\"nohost\"]\n", "kafka.brokers: \"nohost\" has no port"},
		{"kafka:\n  brokers: [\"k:1\"]\n  compression: brotli\n", "kafka.compression"},
		{"kafka:\n  brokers: [\"k:1\"]\n  acks: leader\n", "kafka.acks"},
		{"kafka:\n  brokers: [\"k:1\"]\n  version: 0.10.2\n", "kafka.version"},
		{"kafka:\n  brokers: [\"k:1\"]\n  sasl:\n    mechanism: GSSAPI\n", "kafka.sasl.mechanism"},
		{"kafka:\n  brokers: [\"k:1\"]\netcd:\n  prefix: logagent\n", "etcd.prefix"},
		{"kafka:\n  brokers: [\"k:1\"]\nlimits:\n  max_line_bytes: 2MiB\n", "limits.max_line_bytes"},
		{"kafka:\n  brokers: [\"k:1\"]\nlimits:\n  max_bytes_in_flight: 1MiB\n", "limits.max_bytes_in_flight"},
		{"kafka:\n  brokers: [\"k:1\"]\nlimits:\n  memory_limit: 31MiB\n", "limits.memory_limit"},
		{"kafka:\n  brokers: [\"k:1\"]\nlimits:\n  max_line_bytes: lots\n", "not a size"},
		{"kafka:\n  brokers: [\"k:1\"]\nfiles:\n  rotate_wait: -1s\n", "files.rotate_wait"},
		{"kafka:\n  brokers: [\"k:1\"]\nhost_id: \"a/b\"\n", "host_id"},
		{"kafka:\n  brokers: [\"k:1\"]\nhost_id: _common\n", "host_id: \"_common\" is reserved"},
		{"kafka:\n  brokers: [\"k:1\"]\nhost_id: _groups\n", "host_id: \"_groups\" is reserved"},
		{"kafka:\n  brokers: [\"k:1\"]\ngroups: [web, \"eu west\"]\n", "groups[1]: \"eu west\" must not contain"},
		{"kafka:\n  brokers: [\"k:1\"]\ngroups: [web, web]\n", "groups[1]: \"web\" is listed twice"},
		{"kafka:\n  brokers: [\"k:1\"]\nlog_level: loud\n", "log_level"},
		{"kafka:\n  brokers: [\"k:1\"]\nhttp_listen: 9431\n", "http_listen: \"9431\" is not host:port (port 1-65535) or off"},
		{"kafka:\n  brokers: [\"k:1\"]\nhttp_listen: \"127.0.0.1:\"\n", "http_listen: \"127.0.0.1:\""},
		{"kafka:\n  brokers: [\"k:1\"]\nhttp_listen: \"127.0.0.1:99999\"\n", "http_listen: \"127.0.0.1:99999\""},
		{"kafka:\n  brokers: [\"k:1\"]\n  brokerz: 1\n", "field brokerz not found"},
		{"kafka:\n  brokers: [\"k:1\"]\n  tls:\n    enabled: true\n    cert_file: /x\n", "kafka.tls: cert_file and key_file"},
	}
	for _, c := range cases {
		_, err := LoadAgent(writeConfig(t, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: error %v, want it to mention %q", c.body, err, c.want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Setenv("LOGAGENT_TEST_PW", "hunter2")
	s := Secret("env:LOGAGENT_TEST_PW")
	if v, err := s.Resolve(); err != nil || v != "hunter2" {
		t.Fatalf("resolve: %q %v", v, err)
	}
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Secret("file:" + file).Resolve(); err != nil || v != "from-file" {
		t.Fatalf("file secret: %q %v", v, err)
	}
	k := Kafka{SASL: SASL{Mechanism: "PLAIN", Username: "u", Password: "literal-pw"}}
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if strings.Contains(out, "literal-pw") {
			t.Fatalf("secret printed: %s", out)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"512": 512, "64KiB": 64 << 10, "256KB": 256 << 10, "16MiB": 16 << 20, "1G": 1 << 30} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%s = %d, %v", in, got, err)
		}
	}
	if _, err := ParseByteSize("-1"); err == nil {
		t.Error("negative size accepted")
	}
}

func TestAllowedPaths(t *testing.T) {
	f := Files{AllowedPaths: []string{"/var/log/nginx/*.log", "/srv/app/**", "/home/*/logs/**", `/opt/x\*y.log`}}
	for path, want := range map[string]bool{
		"/var/log/nginx/access.log":     true,
		"/var/log/nginx/old/access.log": false, // "*" stays in one element
		"/var/log/nginx/access.log.1":   false,
		"/srv/app/a.log":                true,
		"/srv/app/2026/11/a.log":        true,
		"/srv/app":                      false, // the directory itself is no file below it
		"/srv/application/a.log":        false,
		"/home/ann/logs/x/y.log":        true,
		"/home/ann/other/y.log":         false,
		"/opt/x*y.log":                  true,
		"/opt/xzy.log":                  false,
		"/etc/passwd":                   false,
		"/srv/app/../../etc/passwd":     false, // not clean: never allowed
		"srv/app/a.log":                 false,
	} {
		if got := f.Allows(path); got != want {
			t.Errorf("Allows(%q) = %v, want %v", path, got, want)
		}
	}
	if !(Files{}).Allows("/etc/passwd") {
		t.Error("an empty list must allow every path")
	}
	if all := (Files{AllowedPaths: []string{"/**"}}); !all.Allows("/etc/passwd") || all.Allows("relative") {
		t.Error(`"/**" must allow every absolute path`)
	}
}

func TestAllowedPathsValidated(t *testing.T) {
	load := func(list string) error {
		_, err := LoadAgent(writeConfig(t, "kafka:\n  brokers: [\"k:1\"]\nfiles:\n  allowed_paths: "+list+"\n"))
		return err
	}
	if err := load(`["/var/log/**", "/srv/*/logs/*.log", "/**", "/opt/**/logs/*.log"]`); err != nil {
		t.Fatalf("valid list: %v", err)
	}
	for list, want := range map[string]string{
		`["/var/log/**", "/var/log/[x"]`: `files.allowed_paths[1]: "/var/log/[x" is not a valid glob`,
		`["/var/log/**.log"]`:            `files.allowed_paths[0]: "/var/log/**.log": "**" must be a whole path element`,
		`["var/log/*.log"]`:              `files.allowed_paths[0]: "var/log/*.log" must be absolute`,
		`[""]`:                           `files.allowed_paths[0]: "" must be absolute`,
		`["/var/log/../etc/**"]`:         `files.allowed_paths[0]: "/var/log/../etc/**" is not a clean path; write it as "/var/etc/**"`,
		`["/var/log/"]`:                  `write it as "/var/log"`,
	} {
		if err := load(list); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("allowed_paths %s: %v, want %q", list, err, want)
		}
	}
}
