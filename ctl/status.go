package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/etcd"
)

// HostStatus is one host as logctl status shows it: its agent's published
// status (nil when the agent has none: stopped, or not connected for longer
// than the status lease) and the collect config stored for it.
type HostStatus struct {
	Host string `json:"host"`
	// State names the most urgent of the host's problems: no-status,
	// send-errors (Kafka refuses a topic's lines: nothing of those files
	// ships), config-rejected, config-pending (the agent has not applied
	// the newest config yet), file-errors; else ok.
	State string `json:"state"`
	// HeartbeatAge is how long ago the agent last wrote its status, seconds.
	HeartbeatAge float64 `json:"heartbeat_age_seconds"`
	// ConfigRevision is the stored mod revision of the host's own layer
	// (0: none).
	ConfigRevision int64 `json:"config_revision"`
	// Stored is the stored mod revision of each layer the agent takes (0:
	// the key is missing); known only when the agent published its status.
	Stored map[string]int64 `json:"stored_revisions,omitempty"`
	Status *collect.Status  `json:"status,omitempty"`
	// SendErrors are the files whose topic Kafka keeps refusing, with how
	// long it has.
	SendErrors []SendError `json:"send_errors,omitempty"`
}

// SendError is a file whose lines Kafka keeps refusing.
type SendError struct {
	Path  string `json:"path"`
	Topic string `json:"topic"`
	Error string `json:"error"`
	// Age is how long sends have failed, seconds (0 when the agent did not
	// say since when).
	Age float64 `json:"age_seconds"`
}

// Filter selects hosts for Statuses: all, one host, or the hosts whose
// agents take a group.
type Filter struct {
	Host, Group string
}

// Statuses reads every host's status and config under prefix, or those of
// the hosts f selects, sorted by host.
func Statuses(ctx context.Context, cli *clientv3.Client, prefix string, f Filter, now time.Time) ([]HostStatus, error) {
	key := prefix
	if f.Host != "" {
		if err := checkHost(f.Host); err != nil {
			return nil, err
		}
		key = prefix + f.Host + "/"
	}
	// The shared layers' keys all begin with "_": read with the hosts'.
	resp, err := cli.Txn(ctx).Then(clientv3.OpGet(key, clientv3.WithPrefix()), clientv3.OpGet(prefix+"_", clientv3.WithPrefix())).Commit()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	shared := map[string]int64{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if l, ok := etcd.LayerOfKey(prefix, string(kv.Key)); ok {
			shared[l.String()] = kv.ModRevision
		}
	}
	byHost := map[string]*HostStatus{}
	get := func(h string) *HostStatus {
		if byHost[h] == nil {
			byHost[h] = &HostStatus{Host: h}
		}
		return byHost[h]
	}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		if h, ok := etcd.HostOfCollectKey(prefix, string(kv.Key)); ok {
			get(h).ConfigRevision = kv.ModRevision
		} else if h, ok := etcd.HostOfStatusKey(prefix, string(kv.Key)); ok {
			var st collect.Status
			if err := json.Unmarshal(kv.Value, &st); err != nil {
				return nil, fmt.Errorf("status of %s is not valid JSON: %w", h, err)
			}
			get(h).Status = &st
		}
	}
	if f.Host != "" && byHost[f.Host] == nil {
		return nil, fmt.Errorf("host %s has neither a collect config nor a status under %s", f.Host, prefix)
	}
	out := make([]HostStatus, 0, len(byHost))
	for _, hs := range byHost {
		if f.Group != "" && (hs.Status == nil || !slices.Contains(hs.Status.Groups, f.Group)) {
			continue
		}
		if hs.Status != nil {
			hs.HeartbeatAge = now.Sub(hs.Status.UpdatedAt).Round(time.Second).Seconds()
			hs.SendErrors = sendErrors(hs.Status.Files, now)
			hs.Stored = storedRevisions(hs, shared)
		}
		hs.State = hs.state()
		out = append(out, *hs)
	}
	slices.SortFunc(out, func(a, b HostStatus) int { return strings.Compare(a.Host, b.Host) })
	return out, nil
}

// storedRevisions is the stored revision of each layer hs's agent takes.
func storedRevisions(hs *HostStatus, shared map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, l := range hs.Status.Config.Layers {
		out[l.Layer] = shared[l.Layer]
	}
	out[hs.Host] = hs.ConfigRevision
	return out
}

// storedRevision is a layer's stored revision.
func (hs *HostStatus) storedRevision(layer string) int64 {
	if layer == hs.Host {
		return hs.ConfigRevision
	}
	return hs.Stored[layer]
}

// layers is the agent's layers' states; an agent from before there were
// layers reports only its own.
func (hs *HostStatus) layers() []collect.LayerStatus {
	c := hs.Status.Config
	if len(c.Layers) > 0 {
		return c.Layers
	}
	return []collect.LayerStatus{{Layer: hs.Host, Applied: true, AppliedRevision: c.AppliedRevision,
		RejectedRevision: c.RejectedRevision, RejectReason: c.RejectReason}}
}

func (hs *HostStatus) state() string {
	st := hs.Status
	switch {
	case st == nil:
		return "no-status"
	case len(hs.SendErrors) > 0:
		return "send-errors"
	}
	if c := hs.configState(); c != "" {
		return c
	}
	if slices.ContainsFunc(st.Files, func(f collect.FileStatus) bool { return f.LastError != "" }) {
		return "file-errors"
	}
	return "ok"
}

// configState is config-rejected when the agent refused the stored version
// of a layer, config-pending when it has not applied one yet, else "".
func (hs *HostStatus) configState() string {
	pending := false
	for _, l := range hs.layers() {
		stored := hs.storedRevision(l.Layer)
		switch {
		case l.RejectedRevision >= stored && stored > l.AppliedRevision:
			return "config-rejected"
		case stored != l.AppliedRevision:
			pending = true
		}
	}
	if pending {
		return "config-pending"
	}
	return ""
}

func sendErrors(files []collect.FileStatus, now time.Time) []SendError {
	var out []SendError
	for _, f := range files {
		if f.SendError == "" {
			continue
		}
		e := SendError{Path: f.Path, Topic: f.Topic, Error: f.SendError}
		if f.SendErrorSince != nil {
			e.Age = now.Sub(*f.SendErrorSince).Round(time.Second).Seconds()
		}
		out = append(out, e)
	}
	return out
}

// WriteStatusJSON writes statuses as one indented JSON array.
func WriteStatusJSON(w io.Writer, statuses []HostStatus) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(statuses)
}

// WriteStatusTable writes a line per host, then a row per file.
func WriteStatusTable(w io.Writer, statuses []HostStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, hs := range statuses {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		st := hs.Status
		if st == nil {
			fmt.Fprintf(tw, "%s\tno-status\tno agent status: not running, or cut off from etcd longer than its lease (config rev %d)\n", hs.Host, hs.ConfigRevision)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\tagent %s, heartbeat %s ago, %s\n",
			hs.Host, hs.State, st.Version, time.Duration(hs.HeartbeatAge)*time.Second, hs.configSummary())
		if len(st.Files) == 0 {
			fmt.Fprintln(tw, "\t\tno files")
			continue
		}
		fmt.Fprintln(tw, "\tPATH\tTOPIC\tOFFSET\tSIZE\tLAG\tUNACKED\tERROR")
		sendErrs := map[string]SendError{}
		for _, e := range hs.SendErrors {
			sendErrs[e.Path] = e
		}
		for _, f := range st.Files {
			fmt.Fprintf(tw, "\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", f.Path, f.Topic, f.Offset, f.Size, f.LagBytes, hs.unackedAge(f), fileErrors(f, sendErrs))
		}
		if st.FilesOmitted > 0 {
			fmt.Fprintf(tw, "\t… %d more files not listed (the agent lists the %d with errors or the most lag); lag of all files: %d\n",
				st.FilesOmitted, len(st.Files), st.LagBytes)
		}
	}
	return tw.Flush()
}

// unackedAge is how long the file's oldest line sent to Kafka has waited
// for its acknowledgement, as of now: "-" when none waits.
func (hs *HostStatus) unackedAge(f collect.FileStatus) string {
	if f.OldestUnackedRead == nil {
		return "-"
	}
	age := hs.Status.UpdatedAt.Sub(*f.OldestUnackedRead) + time.Duration(hs.HeartbeatAge)*time.Second
	return max(age, 0).Round(time.Second).String()
}

// configSummary says which version of each layer the agent runs, and what
// it refused.
func (hs *HostStatus) configSummary() string {
	var parts, rejected []string
	for _, l := range hs.layers() {
		stored := hs.storedRevision(l.Layer)
		p := fmt.Sprintf("%s rev %d", l.Layer, l.AppliedRevision)
		if stored != l.AppliedRevision {
			p += fmt.Sprintf(" (rev %d stored)", stored)
		}
		parts = append(parts, p)
		if l.RejectReason != "" {
			rejected = append(rejected, fmt.Sprintf("%s rev %d REJECTED: %s", l.Layer, l.RejectedRevision, oneLine(l.RejectReason, 160)))
		}
	}
	out := "config " + strings.Join(parts, ", ") + " applied"
	if hs.Status.Config.FromCache {
		out += " (cached: etcd not reached since start)"
	}
	if len(rejected) > 0 {
		out += "; " + strings.Join(rejected, "; ")
	}
	return out
}

// fileErrors is a file's ERROR cell: its send error with its age, then its
// own error.
func fileErrors(f collect.FileStatus, sendErrs map[string]SendError) string {
	var parts []string
	if e, ok := sendErrs[f.Path]; ok {
		age := ""
		if e.Age > 0 {
			age = fmt.Sprintf(" (for %s)", time.Duration(e.Age)*time.Second)
		}
		parts = append(parts, "kafka: "+oneLine(e.Error, 100)+age)
	}
	if f.LastError != "" {
		parts = append(parts, oneLine(f.LastError, 80))
	}
	return strings.Join(parts, "; ")
}

// oneLine keeps a message on one table row.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= limit {
		return s
	}
	cut := 0
	for i := range s { // rune starts, so a character is never split
		if i > limit-3 {
			break
		}
		cut = i
	}
	return s[:cut] + "…"
}
