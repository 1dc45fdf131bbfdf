package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

// logctl runs one command line in-process against e and returns the exit
// status and output.
type logctl struct {
	t    *testing.T
	etcd *testenv.Etcd
}

type result struct {
	code           int
	stdout, stderr string
}

func (l logctl) run(args ...string) result {
	l.t.Helper()
	return l.runStdin("", args...)
}

func (l logctl) runStdin(stdin string, args ...string) result {
	l.t.Helper()
	if l.etcd != nil && len(args) > 0 && args[0] != "dlq" && args[0] != "tail" { // Kafka-only commands
		args = append(args, "--endpoints", strings.Join(l.etcd.Endpoints(), ","))
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) must(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func stored(t *testing.T, cli *clientv3.Client, host string) (string, int64) {
	t.Helper()
	resp, err := cli.Get(context.Background(), etcd.CollectKey("/logagent/", host))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision
}

func TestCollectAddGetRemove(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}

	r := l.run("collect", "add", "--host", "web1", "--path", "/var/log/nginx/access.log", "--topic", "web_log",
		"--timestamp", "nginx", "--field", "env=prod", "--exclude", "*.gz").must(t)
	if !strings.Contains(r.stdout, `+    "path": "/var/log/nginx/access.log",`) || !strings.Contains(r.stdout, "written at revision") {
		t.Fatalf("add output lacks the diff or the confirmation:\n%s", r.stdout)
	}
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/app/*.log", "--topic", "app_log").must(t)
	value, _ := stored(t, cli, "web1")
	entries, err := collect.ParseCollectConfig([]byte(value))
	if err != nil || len(entries) != 2 || entries[0].Fields["env"] != "prod" || entries[1].Topic != "app_log" {
		t.Fatalf("stored config %s: %+v %v", value, entries, err)
	}

	got := l.run("collect", "get", "--host", "web1").must(t)
	if got.stdout != value {
		t.Fatalf("get printed\n%s\nstored is\n%s", got.stdout, value)
	}

	// The same path twice, and an entry the agent would reject.
	if r := l.run("collect", "add", "--host", "web1", "--path", "/var/log/app/*.log", "--topic", "x"); r.code != 1 || !strings.Contains(r.stderr, "already collects /var/log/app/*.log") {
		t.Fatalf("duplicate path: %+v", r)
	}
	if r := l.run("collect", "add", "--host", "web1", "--path", "relative.log", "--topic", "web_log"); r.code != 1 || !strings.Contains(r.stderr, "path") {
		t.Fatalf("relative path: %+v", r)
	}
	// A path that climbs out of its directory is refused with the clean
	// form it means, and nothing is written.
	_, rev := stored(t, cli, "web1")
	r = l.run("collect", "add", "--host", "web1", "--path", "/x/logs/../../../etc/passwd", "--topic", "web_log")
	if r.code != 1 || !strings.Contains(r.stderr, `has ".." segments; write the path they lead to: "/etc/passwd"`) {
		t.Fatalf("path with ..: %+v", r)
	}
	if _, now := stored(t, cli, "web1"); now != rev {
		t.Fatal("a path with .. was written")
	}

	r = l.run("collect", "rm", "--host", "web1", "--path", "/var/log/nginx/access.log").must(t)
	if !strings.Contains(r.stdout, `-    "path": "/var/log/nginx/access.log",`) {
		t.Fatalf("rm output lacks the diff:\n%s", r.stdout)
	}
	if r := l.run("collect", "rm", "--host", "web1", "--path", "/nope.log"); r.code != 1 || !strings.Contains(r.stderr, "no entry with path /nope.log") {
		t.Fatalf("rm of a missing path: %+v", r)
	}
	value, _ = stored(t, cli, "web1")
	if strings.Contains(value, "nginx") || !strings.Contains(value, "app_log") {
		t.Fatalf("after rm: %s", value)
	}
}

func TestCollectAddMultiline(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/app.log", "--topic", "app_log",
		"--multiline-start", `^\d{4}-`, "--multiline-timeout", "2s").must(t)
	value, _ := stored(t, cli, "web1")
	entries, err := collect.ParseCollectConfig([]byte(value))
	if err != nil || len(entries) != 1 || entries[0].Multiline == nil ||
		entries[0].Multiline.StartPattern != `^\d{4}-` || entries[0].Multiline.Timeout != "2s" {
		t.Fatalf("stored config %s: %+v %v", value, entries, err)
	}
	r := l.run("collect", "add", "--host", "web1", "--path", "/var/log/b.log", "--topic", "b", "--multiline-continue", "(")
	if r.code != 1 || !strings.Contains(r.stderr, "multiline.continue_pattern: \"(\" is not a valid regular expression") {
		t.Fatalf("invalid pattern: %+v", r)
	}
}

func TestCollectSetValidatesAndDryRun(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := write("good.json", `[{"path":"/var/log/a.log","topic":"web_log"}]`)
	r := l.run("collect", "set", "--host", "web1", "-f", good, "--dry-run").must(t)
	if !strings.Contains(r.stdout, "dry run: nothing written") {
		t.Fatalf("dry run output:\n%s", r.stdout)
	}
	if v, _ := stored(t, cli, "web1"); v != "" {
		t.Fatalf("dry run wrote %s", v)
	}
	l.run("collect", "set", "--host", "web1", "-f", good).must(t)
	_, rev := stored(t, cli, "web1")
	if r := l.run("collect", "set", "--host", "web1", "-f", good).must(t); !strings.Contains(r.stdout, "no change") {
		t.Fatalf("same config again: %s", r.stdout)
	}
	if _, again := stored(t, cli, "web1"); again != rev {
		t.Fatal("an unchanged config was written again")
	}

	// Every kind of mistake is refused with the validator's words, and the
	// stored config stays.
	for name, tc := range map[string]struct{ body, want string }{
		"typo":      {`[{"path":"/var/log/a.log","topik":"web_log"}]`, `"topik"`},
		"not json":  {`[{"path":"/var/log/a.log",}]`, "JSON"},
		"bad topic": {`[{"path":"/var/log/a.log","topic":"bad topic!"}]`, "topic"},
	} {
		r := l.run("collect", "set", "--host", "web1", "-f", write(name+".json", tc.body))
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "not written") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", name, r.code, r.stderr, tc.want)
		}
	}
	if _, now := stored(t, cli, "web1"); now != rev {
		t.Fatal("an invalid config was written")
	}

	// From stdin.
	r = l.runStdin(`[{"path":"/var/log/b.log","topic":"app_log"}]`, "collect", "set", "--host", "web1", "-f", "-").must(t)
	if v, _ := stored(t, cli, "web1"); !strings.Contains(v, "b.log") {
		t.Fatalf("stdin set: %s", v)
	}
}

func TestCollectEdit(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/a.log", "--topic", "web_log").must(t)

	// The "editor" is sed changing the topic in the file it is given.
	t.Setenv("VISUAL", "sed -i s/web_log/app_log/")
	l.run("collect", "edit", "--host", "web1").must(t)
	if v, _ := stored(t, cli, "web1"); !strings.Contains(v, "app_log") {
		t.Fatalf("after edit: %s", v)
	}

	// An edit the agent would reject is not written, and is kept for the operator.
	_, rev := stored(t, cli, "web1")
	t.Setenv("VISUAL", "sed -i s/app_log/bad!topic/")
	r := l.run("collect", "edit", "--host", "web1")
	if r.code != 1 || !strings.Contains(r.stderr, "your edit is in ") {
		t.Fatalf("invalid edit: %+v", r)
	}
	kept := strings.Fields(r.stderr[strings.Index(r.stderr, "your edit is in ")+len("your edit is in "):])[0]
	t.Cleanup(func() { os.Remove(kept) })
	if b, err := os.ReadFile(kept); err != nil || !strings.Contains(string(b), "bad!topic") {
		t.Fatalf("kept edit %s: %q %v", kept, b, err)
	}
	if _, now := stored(t, cli, "web1"); now != rev {
		t.Fatal("an invalid edit was written")
	}
}

// --command-timeout bounds each etcd request, not the operator's time in the
// editor: an edit slower than the timeout is still written.
func TestSlowEditOutlastsTheCommandTimeout(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/a.log", "--topic", "web_log").must(t)
	editor := filepath.Join(t.TempDir(), "slow-editor")
	script := "#!/bin/sh\nsleep 2\nsed -i s/web_log/app_log/ \"$1\"\n"
	if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VISUAL", editor)
	l.run("collect", "edit", "--host", "web1", "--command-timeout", "1s").must(t)
	if v, _ := stored(t, cli, "web1"); !strings.Contains(v, "app_log") {
		t.Fatalf("after a slow edit: %s", v)
	}
}

func TestCollectGetAllHosts(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/a.log", "--topic", "web_log").must(t)
	l.run("collect", "add", "--host", "web2", "--path", "/var/log/b.log", "--topic", "web_log").must(t)
	if _, err := cli.Put(context.Background(), etcd.CollectKey("/logagent/", "db1"), `{"not":"a list"}`); err != nil {
		t.Fatal(err)
	}
	r := l.run("collect", "get", "--all-hosts", "-o", "json").must(t)
	var hosts []struct {
		Host    string
		Entries int
		Error   string
	}
	if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	if len(hosts) != 3 || hosts[0].Host != "db1" || hosts[0].Error == "" || hosts[1].Entries != 1 || hosts[2].Host != "web2" {
		t.Fatalf("hosts: %+v", hosts)
	}
	table := l.run("collect", "get", "--all-hosts").must(t).stdout
	if !strings.Contains(table, "web1") || !strings.Contains(table, "NO: ") {
		t.Fatalf("table:\n%s", table)
	}
	// An invalid stored config is printed and reported.
	if r := l.run("collect", "get", "--host", "db1"); r.code != 1 || !strings.Contains(r.stdout, `"not"`) || !strings.Contains(r.stderr, "invalid") {
		t.Fatalf("get of an invalid config: %+v", r)
	}
}

func TestEtcdFlagsFromEnvironment(t *testing.T) {
	e := testenv.StartEtcd(t)
	t.Setenv("ETCDCTL_ENDPOINTS", strings.Join(e.Endpoints(), ","))
	t.Setenv("LOGCTL_PREFIX", "/other")
	l := logctl{t: t} // no --endpoints flag
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/a.log", "--topic", "web_log").must(t)
	resp, err := e.Client(t).Get(context.Background(), "/other/web1/collect_config")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("key under the env prefix: %v %v", resp, err)
	}
}

// etcdctl takes its connection flags before the command too.
func TestFlagsBeforeTheCommand(t *testing.T) {
	e := testenv.StartEtcd(t)
	l := logctl{t: t}
	eps := strings.Join(e.Endpoints(), ",")
	l.run("--endpoints", eps, "--dial-timeout=3s", "collect", "add", "--host", "web1", "--path", "/var/log/a.log", "--topic", "web_log").must(t)
	if r := l.run("--endpoints="+eps, "collect", "get", "--host", "web1").must(t); !strings.Contains(r.stdout, "/var/log/a.log") {
		t.Fatalf("get: %s", r.stdout)
	}
	if r := l.run("--insecure-skip-tls-verify", "--endpoints", eps, "status", "-o", "json").must(t); !strings.Contains(r.stdout, `"host": "web1"`) {
		t.Fatalf("status: %s", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	l := logctl{t: t}
	for _, args := range [][]string{
		{}, {"nope"}, {"collect"}, {"collect", "frobnicate", "--host", "x"},
		{"collect", "add", "--host", "x"}, {"collect", "get"}, {"status", "-o", "yaml"},
		{"dlq", "ls"}, {"etcd-roles"}, {"collect", "get", "--host", "a", "stray"},
	} {
		if r := l.run(args...); r.code != exitUsage || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%q: exit %d, stderr %q; want %d with usage", args, r.code, r.stderr, exitUsage)
		}
	}
	if r := l.run("version").must(t); !strings.HasPrefix(r.stdout, "logctl ") {
		t.Errorf("version: %q", r.stdout)
	}
}

func TestEtcdRoles(t *testing.T) {
	r := logctl{t: t}.run("etcd-roles", "--host", "web1", "--groups", "").must(t)
	for _, want := range []string{
		"etcdctl role add logagent-web1",
		"etcdctl role grant-permission logagent-web1 read '/logagent/web1/collect_config'",
		"etcdctl role grant-permission logagent-web1 write '/logagent/web1/status'",
		"etcdctl user grant-role logagent-web1 logagent-web1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
}

// collect add and set, given Kafka flags, warn about a topic Kafka does
// not have, and write the config all the same.
func TestCollectWarnsAboutMissingTopics(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	k := testenv.StartKafka(t, testenv.Topics("web_log"), testenv.KafkaSASL("SCRAM-SHA-512", "ops", "kafka-pw-1"))
	l := logctl{t, e}
	dir := t.TempDir()
	transferYAML := func(password string) string {
		p := filepath.Join(t.TempDir(), "transfer.yaml")
		body := fmt.Sprintf("kafka:\n  brokers: [%q]\n  sasl: {mechanism: SCRAM-SHA-512, username: ops, password: %q}\n", k.Brokers()[0], password)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := transferYAML("kafka-pw-1")

	r := l.run("collect", "add", "--host", "web1", "--path", "/var/log/a.log", "--topic", "web_log", "--transfer-config", good).must(t)
	if r.stderr != "" {
		t.Fatalf("an existing topic warned: %s", r.stderr)
	}
	r = l.run("collect", "add", "--host", "web1", "--path", "/var/log/app*.log", "--topic", "app_log", "--transfer-config", good).must(t)
	if !strings.Contains(r.stderr, "warning: topic app_log does not exist in Kafka") || !strings.Contains(r.stderr, "send-errors") {
		t.Fatalf("missing topic: stderr %q", r.stderr)
	}
	if v, _ := stored(t, cli, "web1"); !strings.Contains(v, "app_log") {
		t.Fatalf("the entry was not written after the warning: %s", v)
	}

	set := filepath.Join(dir, "set.json")
	if err := os.WriteFile(set, []byte(`[{"path":"/var/log/a.log","topic":"web_log"},{"path":"/var/log/b.log","topic":"db_log"},{"path":"/var/log/c.log","topic":"db_log"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = l.run("collect", "set", "--host", "web1", "-f", set, "--transfer-config", good).must(t)
	if !strings.Contains(r.stderr, "warning: topic db_log does not exist") || strings.Contains(r.stderr, "web_log") {
		t.Fatalf("set: stderr %q", r.stderr)
	}

	// Kafka that cannot be asked is a warning too, without the password.
	r = l.run("collect", "add", "--host", "web1", "--path", "/var/log/d.log", "--topic", "web_log", "--transfer-config", transferYAML("wrong-pw-2")).must(t)
	if !strings.Contains(r.stderr, "warning: could not check that the topics exist") || strings.Contains(r.stderr, "pw-") {
		t.Fatalf("wrong password: stderr %q", r.stderr)
	}
	// Without Kafka flags nothing is checked.
	if r := l.run("collect", "add", "--host", "web1", "--path", "/var/log/e.log", "--topic", "nowhere").must(t); r.stderr != "" {
		t.Fatalf("no Kafka flags: stderr %q", r.stderr)
	}
	// --brokers alone reaches a broker without SASL the same way.
	plain := testenv.StartKafka(t, testenv.Topics("web_log"))
	r = l.run("collect", "add", "--host", "web2", "--path", "/var/log/a.log", "--topic", "other", "--brokers", plain.Brokers()[0]).must(t)
	if !strings.Contains(r.stderr, "warning: topic other does not exist") {
		t.Fatalf("--brokers: stderr %q", r.stderr)
	}
}

// TestCollectLayers edits the common, a group and a host layer, prints a
// host's effective config, filters status by group and prints the roles of
// a host in a group.
func TestCollectLayers(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	l := logctl{t, e}
	l.run("collect", "add", "--common", "--path", "/var/log/*.log", "--topic", "all").must(t)
	l.run("collect", "add", "--group", "web", "--path", "/srv/web.log", "--topic", "web").must(t)
	l.run("collect", "add", "--host", "web1", "--path", "/var/log/*.log", "--disabled").must(t)
	r := l.run("collect", "add", "--host", "web1", "--path", "/srv/own.log", "--topic", "own").must(t)
	if !strings.Contains(r.stdout, "host web1: written at revision") {
		t.Errorf("add --host: %s", r.stdout)
	}
	if r := l.run("collect", "get", "--common").must(t); !strings.Contains(r.stdout, `"/var/log/*.log"`) {
		t.Errorf("get --common: %s", r.stdout)
	}
	if v, _ := stored(t, cli, "web1"); !strings.Contains(v, `"disabled": true`) || strings.Contains(v, `"topic": ""`) {
		t.Errorf("web1's layer: %s", v)
	}

	var effective []struct {
		Layer string
		Entry collect.Entry
	}
	r = l.run("collect", "get", "--effective", "--host", "web1", "--groups", "web").must(t)
	if err := json.Unmarshal([]byte(r.stdout), &effective); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	if len(effective) != 2 || effective[0].Layer != "_groups/web" || effective[0].Entry.Path != "/srv/web.log" ||
		effective[1].Layer != "web1" || effective[1].Entry.Topic != "own" {
		t.Fatalf("effective config of web1: %s", r.stdout)
	}
	// Without --groups they come from the agent's status, which web1 lacks.
	if r := l.run("collect", "get", "--effective", "--host", "web1"); r.code == 0 || !strings.Contains(r.stderr, "--groups") {
		t.Errorf("get --effective without a status: %+v", r)
	}
	// A host layer whose entry a common glob would take is refused by the
	// effective view, with both layers named.
	l.run("collect", "add", "--host", "web2", "--path", "/var/log/app.log", "--topic", "app").must(t)
	if r := l.run("collect", "get", "--effective", "--host", "web2", "--groups", ""); r.code == 0 || !strings.Contains(r.stderr, "layer web2") || !strings.Contains(r.stderr, "never read") {
		t.Errorf("effective config with a dead entry: %+v", r)
	}

	for _, args := range [][]string{
		{"collect", "add", "--host", "_common", "--path", "/a.log", "--topic", "t"},
		{"collect", "add", "--group", "a/b", "--path", "/a.log", "--topic", "t"},
		{"collect", "add", "--common", "--host", "web1", "--path", "/a.log", "--topic", "t"},
	} {
		if r := l.run(args...); r.code == 0 {
			t.Errorf("%q: exit 0, want a refusal", args)
		}
	}

	// status --group shows only the hosts whose agents take the group.
	putStatus := func(host string, groups []string) {
		st := collect.Status{Host: host, Groups: groups, Version: "test", UpdatedAt: time.Now()}
		b, _ := json.Marshal(st)
		if _, err := cli.Put(context.Background(), etcd.StatusKey("/logagent/", host), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	putStatus("web1", []string{"web"})
	putStatus("db1", []string{"db"})
	var hosts []struct{ Host string }
	r = l.run("status", "--group", "web", "-o", "json").must(t)
	if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil || len(hosts) != 1 || hosts[0].Host != "web1" {
		t.Fatalf("status --group web: %v %s", err, r.stdout)
	}
	// Now web1's groups come from its status.
	if r := l.run("collect", "get", "--effective", "--host", "web1").must(t); !strings.Contains(r.stdout, "/srv/web.log") {
		t.Errorf("effective config from the status's groups: %s", r.stdout)
	}

	// Without --groups, the host's groups are those of its status.
	if r := l.run("etcd-roles", "--host", "web1").must(t); !strings.Contains(r.stdout, "read '/logagent/_groups/web/collect_config'") {
		t.Errorf("etcd-roles from the status's groups:\n%s", r.stdout)
	}
	r = l.run("etcd-roles", "--host", "web1", "--groups", "web,eu").must(t)
	for _, want := range []string{
		"read '/logagent/_common/collect_config'",
		"read '/logagent/_groups/web/collect_config'",
		"read '/logagent/_groups/eu/collect_config'",
		"read '/logagent/web1/collect_config'",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("etcd-roles: missing %q in:\n%s", want, r.stdout)
		}
	}
}

// TestLogctlDoesNotLinkTheTransfer: logctl reads the wire contract (DLQ
// headers, envelope) from package wire, not from the transfer, which would
// link the Elasticsearch client into it.
func TestLogctlDoesNotLinkTheTransfer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/logagent/logagent/transfer" || strings.HasPrefix(dep, "github.com/olivere/elastic") {
			t.Errorf("logctl depends on %s", dep)
		}
	}
}
