//go:build e2e

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/internal/testenv"
	"github.com/logagent/logagent/internal/zincenv"
)

var (
	summaryRE    = regexp.MustCompile(`(?m)^summary: written=(\d+) in_kafka=(\d+) indexed=(\d+) searchable=(\d+) after `)
	progressRE   = regexp.MustCompile(`^\s*\d+s\s+written\s+(\d+)\s+in Kafka\s+(\S+)\s+indexed\s+(\S+)\s+searchable\s+(\S+)`)
	zincBinHint  = "build it with `make deps` or ./scripts/build-zinc.sh (the first build downloads ~260 MB of Go modules and takes 2-3 minutes)"
	stoppingLogs = []string{"stopping logagent", "stopping logtransfer", "stopping ZincSearch", "stopping devstack"}
)

// TestDemo runs the demo as `make demo` would, but on free ports and a temp
// data dir: it waits until documents are searchable, talks to the running
// demo with logctl and queries its ZincSearch with the
// printed credentials, then interrupts it as Ctrl-C would and checks that it
// stops everything cleanly with every written line searchable.
func TestDemo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The demo needs the ZincSearch stand-in; a missing one fails the test
	// rather than skipping it, so CI cannot pass without the search half.
	zincBin := filepath.Join(root, zincenv.RelPath)
	if fi, err := os.Stat(zincBin); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("ZincSearch binary %s is missing (%v): %s", zincBin, err, zincBinHint)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin+string(filepath.Separator),
		"./cmd/logagent", "./cmd/logtransfer", "./cmd/logctl", "./cmd/devstack", "./cmd/logdemo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	logdemo := filepath.Join(bin, "logdemo")
	data := t.TempDir()
	zincPort, etcdPort, kafkaPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	ports := []string{
		"-etcd-port", strconv.Itoa(etcdPort), "-etcd-peer-port", strconv.Itoa(testenv.FreePort(t)),
		"-kafka-port", strconv.Itoa(kafkaPort), "-http-port", strconv.Itoa(testenv.FreePort(t)),
		"-transfer-http-port", strconv.Itoa(testenv.FreePort(t)), "-zinc-port", strconv.Itoa(zincPort),
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// On a timeout the demo gets SIGKILL and the kernel kills its children
	// (Pdeathsig; Zinc also stops at EOF on its stdin), so nothing outlives
	// the test. -duration is only a backstop: the test interrupts the demo.
	cmd := exec.CommandContext(ctx, logdemo, append([]string{"-bin", bin, "-zinc-bin", zincBin, "-data", data, "-duration", "2m"}, ports...)...)
	cmd.Dir = root
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	var progressLines int
	talked, searched, interrupted := false, false, false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		m := progressRE.FindStringSubmatch(line)
		if m == nil || interrupted {
			continue
		}
		progressLines++
		// The first progress line: everything runs; poke it from outside.
		if !talked {
			talked = true
			ctl(t, ctx, filepath.Join(bin, "logctl"), fmt.Sprintf("127.0.0.1:%d", etcdPort), fmt.Sprintf("127.0.0.1:%d", kafkaPort), data)
		}
		if !searched {
			if n, err := strconv.Atoi(m[4]); err == nil && n > 0 {
				searched = true
				searchZinc(t, zincPort)
			}
		}
		if searched && progressLines >= 2 {
			interrupted = true
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Errorf("interrupt the demo: %v", err)
			}
		}
	}
	waitErr := cmd.Wait()
	t.Logf("demo output:\n%s", out.String())
	if waitErr != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", waitErr, stderr.String())
	}
	output := out.String()
	if !talked {
		t.Fatal("no progress line")
	}
	if !searched {
		t.Fatal("no document became searchable while the demo ran")
	}
	if !interrupted {
		t.Fatal("the demo was not interrupted (it ran into its -duration backstop)")
	}
	for _, want := range []string{
		"embedded etcd", "kfake: Kafka-protocol dev broker, not Apache Kafka",
		"ZincSearch: Elasticsearch-compatible dev engine, not Elasticsearch",
		fmt.Sprintf("user %s, password %s", zincUser, zincPassword),
		fmt.Sprintf("curl -s -u %s:%s 'http://127.0.0.1:%d/es/web_log-*/_search'", zincUser, zincPassword, zincPort),
		"sample message", `"message": "`,
		"sample search result", "http.response.status_code ", `"status_code": `, `"original": "/`,
		"stopping (interrupted)",
	} {
		if !strings.Contains(output, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Stopped in order: the agent while Kafka is up, the transfer while the
	// engine is up, then the stand-ins.
	last := -1
	for _, s := range stoppingLogs {
		i := strings.Index(output, s)
		if i < 0 {
			t.Errorf("output lacks %q", s)
			continue
		}
		if i < last {
			t.Errorf("%q comes too early; want the order %q", s, stoppingLogs)
		}
		last = i
	}

	m := summaryRE.FindStringSubmatch(output)
	if m == nil {
		t.Fatal("no summary line with every count")
	}
	written, _ := strconv.Atoi(m[1])
	inKafka, _ := strconv.Atoi(m[2])
	indexed, _ := strconv.Atoi(m[3])
	searchable, _ := strconv.Atoi(m[4])
	// At least 2 progress lines at 50 lines/s is ~300; allow for a loaded machine.
	if written < 100 {
		t.Errorf("written=%d, want at least 100", written)
	}
	// At-least-once: duplicates are allowed in Kafka and in the indexing,
	// missing lines are not; duplicates share an _id, so the engine holds
	// exactly one document per line.
	if inKafka < written {
		t.Errorf("in_kafka=%d < written=%d: lines did not reach Kafka", inKafka, written)
	}
	if indexed < written {
		t.Errorf("indexed=%d < written=%d", indexed, written)
	}
	if searchable != written {
		t.Errorf("searchable=%d, want written=%d", searchable, written)
	}
	if !regexp.MustCompile(`(?m)^end-to-end delay, line read by logagent to document stored: p50 \d+\.\d+ s, p99 \d+\.\d+ s over \d+ documents`).MatchString(output) {
		t.Error("no end-to-end delay line with p50 and p99")
	}
	// The application log went through its grok pipeline into typed fields.
	if want := fmt.Sprintf("the application log's %d lines are searchable as fields (grok pipeline)", appLines); !strings.Contains(output, want) {
		t.Errorf("the summary lacks %q", want)
	}
	// Everything was stopped: the demo's ZincSearch port is free again.
	if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(zincPort))); err != nil {
		t.Errorf("ZincSearch port %d still taken after the demo exited: %v", zincPort, err)
	} else {
		ln.Close()
	}
}

// ctl runs logctl against the running demo as the banner suggests: status,
// an invalid config refused, a valid one written, then a file added with a
// topic that does not exist yet: logctl warns, and the dev broker creates
// it on first use, as a default Kafka does, so the file ships.
func ctl(t *testing.T, ctx context.Context, logctl, endpoint, broker, data string) {
	t.Helper()
	run := func(stdin string, args ...string) (string, error) {
		if args[0] != "tail" { // tail reads Kafka only
			args = append(args, "--endpoints", endpoint)
		}
		c := exec.CommandContext(ctx, logctl, args...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run("", "status", "--host", hostID, "-o", "json")
	if err != nil || !strings.Contains(out, `"host": "demo-host"`) {
		t.Errorf("logctl status: %v\n%s", err, out)
	}
	// tail and trace as the banner shows them: a shipped line, and where it is.
	out, err = run("", "tail", "--brokers", broker, "--topic", "web_log", "--from-beginning", "--limit", "1", "-o", "json")
	var env struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	if err != nil || json.Unmarshal([]byte(strings.TrimSpace(out)), &env) != nil || len(env.Event.ID) != 32 {
		t.Fatalf("logctl tail: %v\n%s", err, out)
	}
	testenv.Eventually(t, time.Minute, func() bool {
		out, err = run("", "trace", env.Event.ID, "--transfer-config", filepath.Join(data, "transfer.yaml"))
		return err == nil && strings.Contains(out, "verdict  indexed: document "+env.Event.ID)
	}, "logctl trace finds the first line indexed:\n%s", out)

	// The host's layer overrides the common one's entry for the same file.
	out, err = run("", "collect", "get", "--effective", "--host", hostID)
	if err != nil || strings.Count(out, `"layer": "demo-host"`) != 1 || strings.Count(out, `"layer": "_common"`) != 1 ||
		!strings.Contains(out, `"timestamp": "nginx"`) || !strings.Contains(out, "app.log") {
		t.Errorf("logctl collect get --effective: %v\n%s", err, out)
	}
	if out, err = run("", "collect", "get", "--common"); err != nil || !strings.Contains(out, "access.log") {
		t.Errorf("logctl collect get --common: %v\n%s", err, out)
	}
	out, err = run(`[{"path":"/x.log","topic":"web_log","fieldz":{}}]`, "collect", "set", "--host", hostID, "-f", "-")
	if err == nil || !strings.Contains(out, `unknown field "fieldz"`) {
		t.Errorf("logctl collect set with an invalid config: %v, want an error naming the field\n%s", err, out)
	}
	cfg, err := demoConfig(filepath.Join(data, "logs", "access.log"), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	out, err = run(string(cfg), "collect", "set", "--host", hostID, "-f", "-")
	if err != nil || !strings.Contains(out, "written at revision") || !strings.Contains(out, `+      "env": "e2e"`) {
		t.Errorf("logctl collect set: %v\n%s", err, out)
	}

	app := filepath.Join(data, "logs", "later1.log")
	line := "a line for a topic nobody created\n"
	if err := os.WriteFile(app, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run("", "collect", "add", "--host", hostID, "--path", filepath.Join(data, "logs", "later*.log"), "--topic", "later_log", "--brokers", broker)
	if err != nil || !strings.Contains(out, "warning: topic later_log does not exist") || !strings.Contains(out, "written at revision") {
		t.Errorf("logctl collect add of a new topic: %v\n%s", err, out)
	}
	testenv.Eventually(t, time.Minute, func() bool {
		out, err := run("", "status", "--host", hostID, "-o", "json")
		var hs []struct {
			Status struct {
				Files []struct {
					Path   string `json:"path"`
					Offset int64  `json:"offset"`
				} `json:"files"`
			} `json:"status"`
		}
		if err != nil || json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 1 {
			return false
		}
		for _, f := range hs[0].Status.Files {
			if f.Path == app && f.Offset == int64(len(line)) {
				return true
			}
		}
		return false
	}, "the line of %s in Kafka's new topic later_log (logctl status shows it acknowledged)", app)
}

// searchZinc queries the running demo's ZincSearch as the banner tells
// people to: the newest document, with the demo credentials. It must be an
// nginx line parsed into ECS fields.
func searchZinc(t *testing.T, port int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/es/web_log-*/_search", port)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(newestBody))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(zincUser, zincPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Errorf("search %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("search %s: %s: %s", url, resp.Status, body)
		return
	}
	var r struct {
		Hits struct {
			Total struct{ Value int } `json:"total"`
			Hits  []struct {
				Source struct {
					HTTP struct {
						Response struct {
							StatusCode int `json:"status_code"`
						} `json:"response"`
					} `json:"http"`
					URL struct {
						Original string `json:"original"`
					} `json:"url"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Errorf("search %s: %v: %s", url, err, body)
		return
	}
	if r.Hits.Total.Value == 0 || len(r.Hits.Hits) != 1 {
		t.Errorf("search %s: want the newest of some documents, got %s", url, body)
		return
	}
	src := r.Hits.Hits[0].Source
	if src.HTTP.Response.StatusCode < 100 || !strings.HasPrefix(src.URL.Original, "/") {
		t.Errorf("newest document lacks the parsed nginx fields (http.response.status_code, url.original): %s", body)
	}
}
