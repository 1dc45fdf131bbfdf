//go:build e2e

package main

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/internal/testenv"
)

var summaryRE = regexp.MustCompile(`(?m)^summary: written=(\d+) in_kafka=(\d+)`)

// TestDemo runs the demo as `make demo` would, but on free ports and a temp
// data dir for 8 s, talks to it with -status and -set-config while it runs,
// and checks that it stops cleanly with every written line in Kafka.
func TestDemo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin+string(filepath.Separator),
		"./cmd/logagent", "./cmd/devstack", "./cmd/logdemo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	logdemo := filepath.Join(bin, "logdemo")
	data := t.TempDir()
	ports := []string{
		"-etcd-port", strconv.Itoa(testenv.FreePort(t)), "-etcd-peer-port", strconv.Itoa(testenv.FreePort(t)),
		"-kafka-port", strconv.Itoa(testenv.FreePort(t)), "-http-port", strconv.Itoa(testenv.FreePort(t)),
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// On a timeout the demo gets SIGKILL and the kernel kills its children
	// (Pdeathsig), so nothing outlives the test.
	cmd := exec.CommandContext(ctx, logdemo, append([]string{"-bin", bin, "-data", data, "-duration", "8s"}, ports...)...)
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
	talked := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		// The first progress line: everything runs; poke it from outside.
		if !talked && strings.Contains(line, "written") && strings.Contains(line, "in Kafka") {
			talked = true
			ctl(t, ctx, logdemo, data, ports)
		}
	}
	waitErr := cmd.Wait()
	t.Logf("demo output:\n%s", out.String())
	if waitErr != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", waitErr, stderr.String())
	}
	if !talked {
		t.Fatal("no progress line")
	}
	for _, want := range []string{"embedded etcd", "kfake: Kafka-protocol dev broker, not Apache Kafka", "sample message", `"message": "`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	m := summaryRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no summary line")
	}
	written, _ := strconv.Atoi(m[1])
	inKafka, _ := strconv.Atoi(m[2])
	// 8 s at 50 lines/s is 400; allow for a loaded machine.
	if written < 100 {
		t.Errorf("written=%d, want at least 100", written)
	}
	// At-least-once: duplicates are allowed, missing lines are not.
	if inKafka < written {
		t.Errorf("in_kafka=%d < written=%d: lines did not reach Kafka", inKafka, written)
	}
}

// ctl runs -status and -set-config against the running demo.
func ctl(t *testing.T, ctx context.Context, logdemo, data string, ports []string) {
	t.Helper()
	run := func(args ...string) (string, error) {
		c := exec.CommandContext(ctx, logdemo, append(append([]string{"-data", data}, ports...), args...)...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run("-status")
	if err != nil || !strings.Contains(out, `"host": "demo-host"`) {
		t.Errorf("-status: %v\n%s", err, out)
	}
	out, err = run("-set-config", `[{"path":"/x.log","topic":"web_log","fieldz":{}}]`)
	if err == nil || !strings.Contains(out, `unknown field "fieldz"`) {
		t.Errorf("-set-config with an invalid config: %v, want an error naming the field\n%s", err, out)
	}
	cfg, err := demoConfig(filepath.Join(data, "logs", "access.log"), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	out, err = run("-set-config", string(cfg))
	if err != nil || !strings.Contains(out, "put /logagent/demo-host/collect_config at revision") {
		t.Errorf("-set-config: %v\n%s", err, out)
	}
}
