//go:build e2e

package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
)

// TestFleetLayers runs two agents of group web on one etcd: the common and
// group layers reach both, a host's own layer overrides an entry and
// disables another, a bad group layer is rejected while the host's layer
// still applies, and a start with etcd down runs the cached layers.
func TestFleetLayers(t *testing.T) {
	s := newStack(t)
	dir := t.TempDir()
	common, group, own := filepath.Join(dir, "common.log"), filepath.Join(dir, "group.log"), filepath.Join(dir, "own.log")
	cfg1, cfg2 := s.hostConfig(t, "web-1", "web"), s.hostConfig(t, "web-2", "web")
	web1, web2 := startAgent(t, cfg1), startAgent(t, cfg2)

	// _common reaches both agents, then _groups/web does.
	s.putLayer(t, collect.CommonLayer(), configJSON(entry(common, "web_log")))
	appendLines(t, common, "c", 0, 10)
	waitHosts(t, s, "web_log", map[string]int{"web-1": 10, "web-2": 10}, "the common layer on both hosts")
	s.putLayer(t, collect.GroupLayer("web"), configJSON(entry(group, "app_log")))
	appendLines(t, group, "g", 0, 5)
	waitHosts(t, s, "app_log", map[string]int{"web-1": 5, "web-2": 5}, "the group layer on both hosts")

	// web-1's own layer replaces the common entry (same path, other topic);
	// web-2's disables the group's entry.
	s.putLayer(t, collect.HostLayer("web-1"), configJSON(entry(common, "app_log")))
	s.putLayer(t, collect.HostLayer("web-2"), `[{"path":"`+group+`","disabled":true}]`)
	testenv.Eventually(t, 10*time.Second, func() bool { return web2.metric(t, "logagent_files_open") == 1 }, "web-2 stops reading the disabled group entry")
	// Applied: the first read (every key missing), _common, the group, its own.
	testenv.Eventually(t, 10*time.Second, func() bool { return web1.metric(t, "logagent_config_reloads_total") >= 4 }, "web-1 applies its layer")
	appendLines(t, common, "c", 10, 13)
	appendLines(t, group, "g", 5, 9)
	waitHosts(t, s, "app_log", map[string]int{"web-1": 5 + 3 + 4, "web-2": 5}, "web-1's override and web-2's disabled entry")
	waitHosts(t, s, "web_log", map[string]int{"web-1": 10, "web-2": 13}, "web-2 keeps the common entry")

	// A bad group layer is rejected: its last good version stays in force,
	// and web-1's own change still applies.
	badRev := s.putLayer(t, collect.GroupLayer("web"), `[{"path":"relative.log","topic":"app_log"}]`)
	s.putLayer(t, collect.HostLayer("web-1"), configJSON(entry(common, "app_log"), entry(own, "web_log")))
	// The status is written at most every 10 s.
	testenv.Eventually(t, 30*time.Second, func() bool {
		l, ok := layerStatus(t, s, "web-1", "_groups/web")
		return ok && l.RejectedRevision == badRev && strings.Contains(l.RejectReason, "must be absolute")
	}, "web-1's status names the rejected group layer")
	appendLines(t, own, "o", 0, 2)
	appendLines(t, group, "g", 9, 10)
	waitHosts(t, s, "web_log", map[string]int{"web-1": 10 + 2, "web-2": 13}, "web-1's new entry despite the rejected group layer")
	waitHosts(t, s, "app_log", map[string]int{"web-1": 13, "web-2": 5}, "the group layer's last good version")

	// With etcd down, web-2 starts on its cached layers: the common entry,
	// not the disabled group one.
	web2.stop(t)
	s.etcd.Stop()
	web2 = startAgent(t, cfg2)
	appendLines(t, group, "g", 10, 11)
	appendLines(t, common, "c", 13, 15)
	waitHosts(t, s, "web_log", map[string]int{"web-1": 12, "web-2": 15}, "web-2 on cached layers while etcd is down")
	waitHosts(t, s, "app_log", map[string]int{"web-1": 16, "web-2": 5}, "web-2's cached host layer still disables the group entry")
}

// hostConfig is an agent config for host in groups.
func (s *stack) hostConfig(t *testing.T, host string, groups ...string) *conf.Agent {
	t.Helper()
	cfg := s.agentConfig(t, t.TempDir())
	cfg.HostID, cfg.Groups = host, groups
	return cfg
}

// putLayer writes a layer of collect config and returns its revision.
func (s *stack) putLayer(t *testing.T, l collect.Layer, value string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.etcd.Client(t).Put(ctx, etcd.LayerKey("/logagent/", l), value)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// layerStatus is what host's published status says of layer.
func layerStatus(t *testing.T, s *stack, host, layer string) (collect.LayerStatus, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.etcd.Client(t).Get(ctx, etcd.StatusKey("/logagent/", host))
	if err != nil || len(resp.Kvs) == 0 {
		return collect.LayerStatus{}, false
	}
	var st collect.Status
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		t.Fatalf("status of %s: %v", host, err)
	}
	for _, l := range st.Config.Layers {
		if l.Layer == layer {
			return l, true
		}
	}
	return collect.LayerStatus{}, false
}

// waitHosts waits until topic holds exactly want records from each host
// (by the envelope's host.name), failing if one host goes past its count.
func waitHosts(t *testing.T, s *stack, topic string, want map[string]int, what string) {
	t.Helper()
	var got map[string]int
	testenv.Eventually(t, 15*time.Second, func() bool {
		got = map[string]int{}
		for _, r := range s.kafka.ReadAll(t, topic) {
			var ev struct {
				Host struct {
					Name string `json:"name"`
				} `json:"host"`
			}
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("record %s/%d/%d is not an envelope: %v", topic, r.Partition, r.Offset, err)
			}
			got[ev.Host.Name]++
		}
		for h, n := range got {
			if n > want[h] {
				t.Fatalf("%s: %s holds %d records of %s, want %d", what, topic, n, h, want[h])
			}
		}
		for h, n := range want {
			if got[h] != n {
				return false
			}
		}
		return true
	}, "%s: %s holds %v records by host, want %v", what, topic, got, want)
}

// TestEdgeFiltersLive: exclude_lines set through etcd drops events before
// Kafka, counts them, and the file's offset moves past them: after a
// restart nothing is shipped again.
func TestEdgeFiltersLive(t *testing.T) {
	s := newStack(t)
	dir, state := t.TempDir(), t.TempDir()
	app := filepath.Join(dir, "app.log")
	cfg := s.agentConfig(t, state)
	ra := startAgent(t, cfg)
	s.putConfig(t, `[{"path":"`+app+`","topic":"app_log","exclude_lines":["DEBUG"],
		"timestamp":{"layout":"2006-01-02 15:04:05.000","timezone":"Europe/Berlin"}}]`)
	appendLines(t, app, "INFO", 0, 10)
	appendLines(t, app, "DEBUG", 0, 30)
	kept := appendLines(t, app, "INFO", 10, 20)
	testenv.Eventually(t, 10*time.Second, func() bool { return ra.metric(t, `logagent_events_dropped_total{reason="excluded"}`) == 30 }, "30 DEBUG lines dropped")
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "app_log") == 20 }, "the 20 INFO lines in Kafka")
	requireAll(t, messagesIn(t, s.kafka, "app_log"), kept)

	// The custom layout stamps the event, in the entry's zone.
	appendLinesRaw(t, app, "2026-12-02 10:01:02.123 ERROR [req=ab12] payment failed\n")
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "app_log") == 21 }, "the stamped line")
	var stamped struct {
		Timestamp string `json:"@timestamp"`
	}
	recs := s.kafka.ReadAll(t, "app_log")
	for _, r := range recs {
		if strings.Contains(string(r.Value), "payment failed") {
			_ = json.Unmarshal(r.Value, &stamped)
		}
	}
	if stamped.Timestamp != "2026-12-02T09:01:02.123000000Z" {
		t.Fatalf("@timestamp of the stamped line = %q, want 2026-12-02T09:01:02.123000000Z (10:01:02.123 in Berlin)", stamped.Timestamp)
	}
	ra.stop(t)

	startAgent(t, cfg)
	appendLines(t, app, "INFO", 20, 21)
	testenv.Eventually(t, 10*time.Second, func() bool { return s.kafka.Count(t, "app_log") >= 22 }, "the line after the restart")
	if n := s.kafka.Count(t, "app_log"); n != 22 {
		t.Fatalf("app_log holds %d records after a restart, want 22: nothing shipped twice", n)
	}
}

// appendLinesRaw appends data to path as it is.
func appendLinesRaw(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}
