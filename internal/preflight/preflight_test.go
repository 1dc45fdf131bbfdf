package preflight

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
	"github.com/logagent/logagent/transfer"
)

// The passwords of the test servers; no output may show them.
const (
	etcdPassword  = "etcd-pw-Q7"
	kafkaPassword = "kafka-pw-Z3"
)

var secretsShown = []string{etcdPassword, kafkaPassword, "wrong-pw-K9"}

// writeSecret writes a 0600 secret file and returns its file: reference.
func writeSecret(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + p
}

// writeConfig writes a 0600 config file.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checked is the output of one check and whether it passed.
type checked struct {
	out    string
	passed bool
}

func (c checked) line(t *testing.T, prefix string) string {
	t.Helper()
	for l := range strings.Lines(c.out) {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(l)
		}
	}
	t.Fatalf("no line starting %q in:\n%s", prefix, c.out)
	return ""
}

func (c checked) lacks(t *testing.T, prefix string) {
	t.Helper()
	for l := range strings.Lines(c.out) {
		if strings.HasPrefix(l, prefix) {
			t.Errorf("unexpected line %q in:\n%s", strings.TrimSpace(l), c.out)
		}
	}
}

func finish(t *testing.T, out *bytes.Buffer, err error) checked {
	t.Helper()
	for _, s := range secretsShown {
		if strings.Contains(out.String(), s) {
			t.Fatalf("the output shows a password:\n%s", out)
		}
	}
	return checked{out.String(), err == nil}
}

func checkAgent(t *testing.T, body string, connect bool) checked {
	t.Helper()
	path := writeConfig(t, body)
	cfg, err := conf.LoadAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = Agent(context.Background(), path, cfg, connect, &out)
	return finish(t, &out, err)
}

func checkTransfer(t *testing.T, body string, connect bool) checked {
	t.Helper()
	path := writeConfig(t, body)
	cfg, err := conf.LoadTransfer(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = Transfer(context.Background(), path, cfg, connect, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return finish(t, &out, err)
}

// agentStack is an etcd with auth on (user web1 has the agent's least
// privilege, etcd.AgentPermissions) and a Kafka with SCRAM, holding topic
// web_log.
type agentStack struct {
	etcd  *testenv.Etcd
	kafka *testenv.Kafka
}

func newAgentStack(t *testing.T, kafkaOpts ...testenv.KafkaOption) agentStack {
	t.Helper()
	e := testenv.StartEtcd(t)
	user := testenv.EtcdUser{Name: "web1", Password: etcdPassword}
	for _, p := range etcd.AgentPermissions("/logagent/", "web1", nil) {
		if p.Write {
			user.Write = append(user.Write, p.Key)
		} else {
			user.Read = append(user.Read, p.Key)
		}
	}
	e.EnableAuth(t, user)
	opts := append([]testenv.KafkaOption{testenv.Topics("web_log"), testenv.KafkaSASL("SCRAM-SHA-256", "shipper", kafkaPassword)}, kafkaOpts...)
	return agentStack{etcd: e, kafka: testenv.StartKafka(t, opts...)}
}

func (s agentStack) putConfig(t *testing.T, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.etcd.Client(t).Put(ctx, etcd.CollectKey("/logagent/", "web1"), value); err != nil {
		t.Fatal(err)
	}
}

// config is agent.yaml for the stack with the given passwords and extra
// kafka lines (indented two spaces).
func (s agentStack) config(t *testing.T, etcdPw, kafkaPw, kafkaExtra string) string {
	return fmt.Sprintf(`host_id: web1
kafka:
  brokers: [%q]
  sasl: {mechanism: SCRAM-SHA-256, username: shipper, password: %q}
%setcd:
  endpoints: [%q]
  dial_timeout: 2s
  username: web1
  password: %q
`, s.kafka.Brokers()[0], writeSecret(t, kafkaPw), kafkaExtra, s.etcd.Endpoints()[0], writeSecret(t, etcdPw))
}

func TestAgentConnectSucceeds(t *testing.T) {
	s := newAgentStack(t)
	s.putConfig(t, `[{"path":"/var/log/a.log","topic":"web_log"},{"path":"/var/log/b.log","topic":"web_log"}]`)
	c := checkAgent(t, s.config(t, etcdPassword, kafkaPassword, ""), true)
	if !c.passed {
		t.Fatalf("check failed:\n%s", c.out)
	}
	c.line(t, "secrets ok: kafka.sasl.password (file:")
	c.lacks(t, "collect config")
	if l := c.line(t, "etcd ok:"); !strings.Contains(l, "(user web1): read _common (not set), web1 rev ") || !strings.Contains(l, "entries 2, topics [web_log]") {
		t.Errorf("etcd line: %s", l)
	}
	if l := c.line(t, "kafka ok:"); !strings.Contains(l, "(SASL SCRAM-SHA-256 as shipper): topics web_log (3 partitions)") {
		t.Errorf("kafka line: %s", l)
	}
	c.line(t, "/tmp")
	if !strings.Contains(c.out, ": OK (host_id web1") {
		t.Errorf("no OK summary:\n%s", c.out)
	}
}

func TestAgentConnectWrongPasswords(t *testing.T) {
	s := newAgentStack(t)
	s.putConfig(t, `[{"path":"/var/log/a.log","topic":"web_log"}]`)

	c := checkAgent(t, s.config(t, "wrong-pw-K9", kafkaPassword, ""), true)
	if c.passed {
		t.Fatalf("passed with a wrong etcd password:\n%s", c.out)
	}
	if l := c.line(t, "etcd FAILED:"); !strings.Contains(l, `authenticate as "web1"`) || !strings.Contains(l, "authentication failed") {
		t.Errorf("etcd line: %s", l)
	}
	// Without the collect config only the brokers are checked.
	if l := c.line(t, "kafka ok:"); !strings.Contains(l, "topics not checked") {
		t.Errorf("kafka line: %s", l)
	}

	c = checkAgent(t, s.config(t, etcdPassword, "wrong-pw-K9", ""), true)
	if c.passed {
		t.Fatalf("passed with a wrong Kafka password:\n%s", c.out)
	}
	c.line(t, "etcd ok:")
	if l := c.line(t, "kafka FAILED:"); !strings.Contains(l, "most often a wrong username or password") {
		t.Errorf("kafka line: %s", l)
	}
	c.lacks(t, "kafka ok")
}

func TestAgentConnectUntrustedKafkaCA(t *testing.T) {
	s := newAgentStack(t, testenv.KafkaTLS(t, testenv.NewTLSFiles(t)))
	other := testenv.NewTLSFiles(t)
	trusting := fmt.Sprintf("  tls: {enabled: true, ca_file: %q}\n", other.CA)
	c := checkAgent(t, s.config(t, etcdPassword, kafkaPassword, trusting), true)
	if c.passed {
		t.Fatalf("passed against a broker whose CA the config does not name:\n%s", c.out)
	}
	if l := c.line(t, "kafka FAILED:"); !strings.Contains(l, "(TLS, SASL") || !strings.Contains(l, "certificate signed by unknown authority") {
		t.Errorf("kafka line: %s", l)
	}
}

func TestAgentConnectTLS(t *testing.T) {
	files := testenv.NewTLSFiles(t)
	s := newAgentStack(t, testenv.KafkaTLS(t, files))
	c := checkAgent(t, s.config(t, etcdPassword, kafkaPassword, fmt.Sprintf("  tls: {enabled: true, ca_file: %q}\n", files.CA)), true)
	if !c.passed {
		t.Fatalf("check failed:\n%s", c.out)
	}
	c.line(t, "kafka ok:")
}

// A missing topic is a warning (a broker may create it on first use), and
// the check does not create it, even on a broker that would.
func TestAgentConnectMissingTopicWarns(t *testing.T) {
	s := newAgentStack(t, testenv.KafkaFakeOptions(kfake.AllowAutoTopicCreation()))
	s.putConfig(t, `[{"path":"/var/log/a.log","topic":"web_log"},{"path":"/var/log/b.log","topic":"app_log"}]`)
	for range 2 {
		c := checkAgent(t, s.config(t, etcdPassword, kafkaPassword, ""), true)
		if !c.passed {
			t.Fatalf("a missing topic failed the check:\n%s", c.out)
		}
		if l := c.line(t, "kafka WARNING:"); !strings.Contains(l, "topics app_log do not exist") || !strings.Contains(l, "found: web_log (3 partitions)") {
			t.Errorf("kafka line: %s", l)
		}
	}
	if n := s.kafka.Count(t, "web_log"); n != 0 {
		t.Errorf("the check wrote %d records", n)
	}
}

func TestAgentConnectWarnsAboutDisallowedFiles(t *testing.T) {
	s := newAgentStack(t)
	s.putConfig(t, `[{"path":"/var/log/a.log","topic":"web_log"},{"path":"/etc/shadow","topic":"web_log"},{"path":"/etc/*.conf","topic":"web_log"}]`)
	c := checkAgent(t, s.config(t, etcdPassword, kafkaPassword, "")+"files:\n  allowed_paths: [\"/var/log/**\"]\n", true)
	if !c.passed {
		t.Fatalf("check failed:\n%s", c.out)
	}
	if l := c.line(t, "collect config WARNING:"); !strings.HasSuffix(l, "outside files.allowed_paths, which the agent does not read: /etc/shadow") {
		t.Errorf("collect config line: %s", l)
	}
}

func TestAgentConnectRejectedConfig(t *testing.T) {
	s := newAgentStack(t)
	s.putConfig(t, `[{"path":"/x/logs/../../etc/passwd","topic":"web_log"}]`)
	c := checkAgent(t, s.config(t, etcdPassword, kafkaPassword, ""), true)
	if c.passed {
		t.Fatalf("passed with a collect config the agent rejects:\n%s", c.out)
	}
	c.line(t, "etcd ok:")
	if l := c.line(t, "collect config FAILED:"); !strings.Contains(l, "/logagent/web1/collect_config revision 2 is rejected, the agent keeps its last good version") || !strings.Contains(l, `".." segments`) {
		t.Errorf("collect config line: %s", l)
	}
}

func TestAgentCheckSecretsWithoutConnect(t *testing.T) {
	missingFile := "file:" + filepath.Join(t.TempDir(), "nonexistent")
	body := fmt.Sprintf(`host_id: web1
kafka:
  brokers: ["127.0.0.1:1"]
  sasl: {mechanism: PLAIN, username: u, password: "env:LOGAGENT_TEST_NOPE_VAR"}
etcd:
  endpoints: ["127.0.0.1:2"]
  username: e
  password: %q
`, missingFile)
	c := checkAgent(t, body, false)
	if c.passed {
		t.Fatalf("passed with unresolvable secrets:\n%s", c.out)
	}
	c.line(t, "secrets FAILED: kafka.sasl.password: environment variable LOGAGENT_TEST_NOPE_VAR is not set")
	c.line(t, "secrets FAILED: etcd.password: read secret file: open "+strings.TrimPrefix(missingFile, "file:"))
	c.lacks(t, "etcd ")
	c.lacks(t, "kafka ")
	if !strings.Contains(c.out, ": FAILED (2 of the checks above)") {
		t.Errorf("summary:\n%s", c.out)
	}
}

func TestAgentCheckRefusesReadableLiteralSecret(t *testing.T) {
	body := "host_id: web1\nkafka:\n  brokers: [\"127.0.0.1:1\"]\netcd:\n  username: e\n  password: " + etcdPassword + "\n"
	path := writeConfig(t, body)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.LoadAgent(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := finish(t, &out, Agent(context.Background(), path, cfg, false, &out))
	if c.passed {
		t.Fatalf("passed with a world-readable literal password:\n%s", c.out)
	}
	c.line(t, "secrets FAILED: "+path+" holds the literal secret of etcd.password: "+path+" is readable by group or others (mode 0644)")

	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if c := finish(t, &out, Agent(context.Background(), path, cfg, false, &out)); !c.passed || !strings.Contains(c.out, "secrets ok: etcd.password (literal)") {
		t.Fatalf("a 0600 file with a literal password:\n%s", c.out)
	}
}

func transferConfig(t *testing.T, k *testenv.Kafka, z *testenv.Zinc, esPassword string) string {
	return fmt.Sprintf(`kafka:
  brokers: [%q]
  sasl: {mechanism: SCRAM-SHA-256, username: shipper, password: %q}
topics: [web_log]
elasticsearch:
  urls: [%q]
  username: %s
  password: %q
`, k.Brokers()[0], writeSecret(t, kafkaPassword), z.URL(), z.User(), writeSecret(t, esPassword))
}

func TestTransferConnect(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"), testenv.KafkaSASL("SCRAM-SHA-256", "shipper", kafkaPassword))
	z := testenv.StartZinc(t)

	c := checkTransfer(t, transferConfig(t, k, z, z.Password()), true)
	if !c.passed {
		t.Fatalf("check failed:\n%s", c.out)
	}
	if l := c.line(t, "kafka ok:"); !strings.Contains(l, "topics web_log (3 partitions), web_log-dlq (3 partitions)") {
		t.Errorf("kafka line: %s", l)
	}
	if l := c.line(t, "elasticsearch ok:"); !strings.Contains(l, "(basic auth as "+z.User()+")") || !strings.Contains(l, "index templates: web_log not installed yet") {
		t.Errorf("elasticsearch line: %s", l)
	}

	if strings.Contains(c.out, z.Password()) {
		t.Fatalf("the output shows the engine's password:\n%s", c.out)
	}

	// Once the transfer has installed its template, the check sees it.
	cfg, err := conf.LoadTransfer(writeConfig(t, transferConfig(t, k, z, z.Password())))
	if err != nil {
		t.Fatal(err)
	}
	es, err := transfer.NewElastic(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := es.PutTemplate(context.Background(), "web_log", nil); err != nil {
		t.Fatal(err)
	}
	c = checkTransfer(t, transferConfig(t, k, z, z.Password()), true)
	if l := c.line(t, "elasticsearch ok:"); !strings.Contains(l, "index templates: web_log installed") {
		t.Errorf("elasticsearch line after PutTemplate: %s", l)
	}

	c = checkTransfer(t, transferConfig(t, k, z, "wrong-pw-K9"), true)
	if c.passed {
		t.Fatalf("passed with a wrong Elasticsearch password:\n%s", c.out)
	}
	if l := c.line(t, "elasticsearch FAILED:"); !strings.Contains(l, "401") {
		t.Errorf("elasticsearch line: %s", l)
	}
}

// TestTransferCheckCompilesPipelines: -check (without -connect) compiles
// the pipelines as a start would and names a failing step.
func TestTransferCheckCompilesPipelines(t *testing.T) {
	check := func(body string) checked { return checkTransfer(t, body, false) }
	const head = "kafka: {brokers: [\"127.0.0.1:9092\"]}\ntopics: [web_log, app_log]\npipelines:\n  web_log: nginx\n"
	c := check(head + "  app_log: [{dissect: {tokenizer: '%{a} %{b}'}}, {convert: {fields: {b: int}}}]\n")
	if l := c.line(t, "pipelines ok:"); !strings.Contains(l, "app_log: 2 steps; web_log: nginx") || !c.passed {
		t.Errorf("pipelines line: %s (passed %v)", l, c.passed)
	}
	c = check(head + "  app_log: [{dissect: {tokenizer: '%{a} %{b}'}}, {convert: {fields: {b: number}}}]\n")
	if l := c.line(t, "pipelines FAILED:"); !strings.Contains(l, `pipelines.app_log: step 2 (convert): fields.b: "number" is not one of`) || c.passed {
		t.Errorf("pipelines line: %s (passed %v)", l, c.passed)
	}
}
