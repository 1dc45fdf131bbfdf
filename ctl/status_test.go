package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestStatuses(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	ctx := ctxT(t)
	put := putter(t, ctx, cli)
	putStatus := func(st collect.Status) {
		t.Helper()
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		put(etcd.StatusKey("/logagent/", st.Host), string(b))
	}
	now := time.Now()
	cfg := `[{"path":"/var/log/a.log","topic":"web_log"}]`

	okRev := put(etcd.CollectKey("/logagent/", "web1"), cfg)
	putStatus(collect.Status{Host: "web1", Version: "1.0", UpdatedAt: now.Add(-3 * time.Second),
		Config: collect.ConfigStatus{AppliedRevision: okRev},
		Files:  []collect.FileStatus{{Path: "/var/log/a.log", Topic: "web_log", Offset: 1200, Size: 1500, LagBytes: 300}}})

	appliedRev := put(etcd.CollectKey("/logagent/", "web2"), cfg)
	badRev := put(etcd.CollectKey("/logagent/", "web2"), `[{"path":"x"}]`)
	putStatus(collect.Status{Host: "web2", Version: "1.0", UpdatedAt: now,
		Config: collect.ConfigStatus{AppliedRevision: appliedRev, RejectedRevision: badRev, RejectReason: "entry 0: path must be absolute"}})

	put(etcd.CollectKey("/logagent/", "web3"), cfg) // no agent
	pendingRev := put(etcd.CollectKey("/logagent/", "web4"), cfg)
	putStatus(collect.Status{Host: "web4", UpdatedAt: now, Config: collect.ConfigStatus{AppliedRevision: pendingRev - 100}})
	web5Rev := put(etcd.CollectKey("/logagent/", "web5"), cfg)
	putStatus(collect.Status{Host: "web5", UpdatedAt: now, Config: collect.ConfigStatus{AppliedRevision: web5Rev},
		Files: []collect.FileStatus{{Path: "/var/log/secret.log", LastError: "open /var/log/secret.log: permission denied"}}})
	// Kafka refuses web6's topic: that outranks a file error and a
	// rejected config, which still ship.
	web6Rev := put(etcd.CollectKey("/logagent/", "web6"), cfg)
	web6Bad := put(etcd.CollectKey("/logagent/", "web6"), `[{"path":"x"}]`)
	failingSince := now.Add(-90 * time.Second)
	putStatus(collect.Status{Host: "web6", UpdatedAt: now,
		Config: collect.ConfigStatus{AppliedRevision: web6Rev, RejectedRevision: web6Bad, RejectReason: "entry 0: path must be absolute"},
		Files: []collect.FileStatus{
			{Path: "/var/log/app1.log", Topic: "app_log", LagBytes: 4000, SendError: "kafka server: Request was for a topic or partition that does not exist on this broker", SendErrorSince: &failingSince},
			{Path: "/var/log/app2.log", Topic: "app_log", LastError: "open /var/log/app2.log: permission denied"},
			{Path: "/var/log/a.log", Topic: "web_log"},
		}})
	// web7 tails more files than its status lists.
	web7Rev := put(etcd.CollectKey("/logagent/", "web7"), cfg)
	putStatus(collect.Status{Host: "web7", UpdatedAt: now, Config: collect.ConfigStatus{AppliedRevision: web7Rev},
		Files: []collect.FileStatus{{Path: "/var/log/big.log", Topic: "web_log", LagBytes: 7000}}, FilesOmitted: 1499, LagBytes: 9000})
	put("/logagent/web1/other", "ignored")
	put("/elsewhere/web9/status", "{}")

	all, err := Statuses(ctx, cli, "/logagent/", Filter{}, now)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, hs := range all {
		states[hs.Host] = hs.State
	}
	want := map[string]string{"web1": "ok", "web2": "config-rejected", "web3": "no-status", "web4": "config-pending", "web5": "file-errors", "web6": "send-errors", "web7": "ok"}
	if len(states) != len(want) {
		t.Fatalf("hosts %v, want %v", states, want)
	}
	for h, s := range want {
		if states[h] != s {
			t.Errorf("%s: state %q, want %q", h, states[h], s)
		}
	}
	if all[0].Host != "web1" || all[0].HeartbeatAge != 3 {
		t.Errorf("web1 heartbeat age %v", all[0].HeartbeatAge)
	}

	var table bytes.Buffer
	if err := WriteStatusTable(&table, all); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"/var/log/a.log", "web_log", "1200", "300", "REJECTED: entry 0: path must be absolute", "no agent status", "permission denied", "heartbeat 3s ago"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}

	if !strings.Contains(table.String(), "… 1499 more files not listed") || !strings.Contains(table.String(), "lag of all files: 9000") {
		t.Errorf("table lacks web7's omitted files:\n%s", table.String())
	}
	if !strings.Contains(table.String(), "kafka: kafka server: Request was for a topic or partition that does not exist on this broker (for 1m30s)") {
		t.Errorf("table lacks web6's send error and its age:\n%s", table.String())
	}
	if web6 := all[5]; len(web6.SendErrors) != 1 || web6.SendErrors[0] != (SendError{Path: "/var/log/app1.log", Topic: "app_log",
		Error: "kafka server: Request was for a topic or partition that does not exist on this broker", Age: 90}) {
		t.Errorf("web6 send errors: %+v", web6.SendErrors)
	}
	if len(all[4].SendErrors) != 0 {
		t.Errorf("web5 has send errors: %+v", all[4].SendErrors)
	}

	one, err := Statuses(ctx, cli, "/logagent/", Filter{Host: "web1"}, now)
	if err != nil || len(one) != 1 || one[0].Status.Files[0].LagBytes != 300 {
		t.Fatalf("one host: %+v %v", one, err)
	}
	var js bytes.Buffer
	if err := WriteStatusJSON(&js, one); err != nil {
		t.Fatal(err)
	}
	var back []HostStatus
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back[0].Status.Files[0].Offset != 1200 {
		t.Fatalf("json round trip: %s %v", js.String(), err)
	}
	if _, err := Statuses(ctx, cli, "/logagent/", Filter{Host: "nohost"}, now); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("unknown host: %v", err)
	}
}

// TestStatusesOfLayers: a host is config-pending while a shared layer it
// takes is stored at a revision it has not applied, config-rejected when it
// refused that revision, and the shared layers' keys are not hosts.
func TestStatusesOfLayers(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := e.Client(t)
	ctx := ctxT(t)
	put := putter(t, ctx, cli)
	cfg := `[{"path":"/var/log/a.log","topic":"web_log"}]`
	commonRev := put(etcd.LayerKey("/logagent/", collect.CommonLayer()), cfg)
	groupRev := put(etcd.LayerKey("/logagent/", collect.GroupLayer("web")), `[]`)
	hostRev := put(etcd.CollectKey("/logagent/", "web1"), `[]`)
	putStatus := func(host string, layers ...collect.LayerStatus) {
		st := collect.Status{Host: host, Groups: []string{"web"}, UpdatedAt: time.Now(), Config: collect.ConfigStatus{Layers: layers}}
		b, _ := json.Marshal(st)
		put(etcd.StatusKey("/logagent/", host), string(b))
	}
	layers := func(common, group collect.LayerStatus) []collect.LayerStatus {
		common.Layer, group.Layer = "_common", "_groups/web"
		return []collect.LayerStatus{common, group, {Layer: "web1", Applied: true, AppliedRevision: hostRev}}
	}
	state := func() (HostStatus, string) {
		t.Helper()
		all, err := Statuses(ctx, cli, "/logagent/", Filter{Group: "web"}, time.Now())
		if err != nil || len(all) != 1 {
			t.Fatalf("statuses %+v, %v; want web1 alone (no host named _common)", all, err)
		}
		var table strings.Builder
		if err := WriteStatusTable(&table, all); err != nil {
			t.Fatal(err)
		}
		return all[0], table.String()
	}

	putStatus("web1", layers(collect.LayerStatus{Applied: true, AppliedRevision: commonRev}, collect.LayerStatus{Applied: true, AppliedRevision: groupRev})...)
	if hs, table := state(); hs.State != "ok" || !strings.Contains(table, fmt.Sprintf("_common rev %d, _groups/web rev %d", commonRev, groupRev)) {
		t.Fatalf("state %s, table:\n%s", hs.State, table)
	}
	newGroup := put(etcd.LayerKey("/logagent/", collect.GroupLayer("web")), `[{"path":"x"}]`)
	if hs, table := state(); hs.State != "config-pending" || !strings.Contains(table, fmt.Sprintf("(rev %d stored)", newGroup)) {
		t.Fatalf("state %s, table:\n%s", hs.State, table)
	}
	putStatus("web1", layers(collect.LayerStatus{Applied: true, AppliedRevision: commonRev},
		collect.LayerStatus{Applied: true, AppliedRevision: groupRev, RejectedRevision: newGroup, RejectReason: "entry 0: path must be absolute"})...)
	if hs, table := state(); hs.State != "config-rejected" || !strings.Contains(table, fmt.Sprintf("_groups/web rev %d REJECTED: entry 0: path must be absolute", newGroup)) {
		t.Fatalf("state %s, table:\n%s", hs.State, table)
	}
}

// TestStatusShowsUnackedAge: a file whose oldest line sent to Kafka is
// unacknowledged shows for how long, as of now.
func TestStatusShowsUnackedAge(t *testing.T) {
	now := time.Now()
	read := now.Add(-45 * time.Second)
	hs := HostStatus{Host: "web1", HeartbeatAge: 5, Status: &collect.Status{Host: "web1", UpdatedAt: now.Add(-5 * time.Second),
		Files: []collect.FileStatus{{Path: "/var/log/a.log", Topic: "t", OldestUnackedRead: &read}, {Path: "/var/log/b.log", Topic: "t"}}}}
	var b strings.Builder
	if err := WriteStatusTable(&b, []HostStatus{hs}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`/var/log/a.log\s+t\s+0\s+0\s+0\s+45s`).MatchString(b.String()) || !regexp.MustCompile(`/var/log/b.log\s+t\s+0\s+0\s+0\s+-`).MatchString(b.String()) {
		t.Fatalf("table:\n%s", b.String())
	}
}

// putter writes keys and returns their revisions.
func putter(t *testing.T, ctx context.Context, cli *clientv3.Client) func(key, value string) int64 {
	return func(key, value string) int64 {
		t.Helper()
		resp, err := cli.Put(ctx, key, value)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
}
