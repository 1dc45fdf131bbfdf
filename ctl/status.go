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
	// ConfigRevision is the stored config's mod revision (0: none).
	ConfigRevision int64        `json:"config_revision"`
	Status         *etcd.Status `json:"status,omitempty"`
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

// Statuses reads every host's status and config under prefix, or only
// host's when host is not empty, sorted by host.
func Statuses(ctx context.Context, cli *clientv3.Client, prefix, host string, now time.Time) ([]HostStatus, error) {
	key, opts := prefix, []clientv3.OpOption{clientv3.WithPrefix()}
	if host != "" {
		if err := checkHost(host); err != nil {
			return nil, err
		}
		key = prefix + host + "/"
	}
	resp, err := cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	byHost := map[string]*HostStatus{}
	get := func(h string) *HostStatus {
		if byHost[h] == nil {
			byHost[h] = &HostStatus{Host: h}
		}
		return byHost[h]
	}
	for _, kv := range resp.Kvs {
		if h, ok := etcd.HostOfCollectKey(prefix, string(kv.Key)); ok {
			get(h).ConfigRevision = kv.ModRevision
		} else if h, ok := etcd.HostOfStatusKey(prefix, string(kv.Key)); ok {
			var st etcd.Status
			if err := json.Unmarshal(kv.Value, &st); err != nil {
				return nil, fmt.Errorf("status of %s is not valid JSON: %w", h, err)
			}
			get(h).Status = &st
		}
	}
	if host != "" && byHost[host] == nil {
		return nil, fmt.Errorf("host %s has neither a collect config nor a status under %s", host, prefix)
	}
	out := make([]HostStatus, 0, len(byHost))
	for _, hs := range byHost {
		if hs.Status != nil {
			hs.HeartbeatAge = now.Sub(hs.Status.UpdatedAt).Round(time.Second).Seconds()
			hs.SendErrors = sendErrors(hs.Status.Files, now)
		}
		hs.State = hs.state()
		out = append(out, *hs)
	}
	slices.SortFunc(out, func(a, b HostStatus) int { return strings.Compare(a.Host, b.Host) })
	return out, nil
}

func (hs *HostStatus) state() string {
	st := hs.Status
	switch {
	case st == nil:
		return "no-status"
	case len(hs.SendErrors) > 0:
		return "send-errors"
	case st.Config.RejectedRevision >= hs.ConfigRevision && hs.ConfigRevision > st.Config.AppliedRevision:
		return "config-rejected"
	case hs.ConfigRevision != st.Config.AppliedRevision:
		return "config-pending"
	case slices.ContainsFunc(st.Files, func(f etcd.FileStatus) bool { return f.LastError != "" }):
		return "file-errors"
	}
	return "ok"
}

func sendErrors(files []etcd.FileStatus, now time.Time) []SendError {
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
		cfg := fmt.Sprintf("config rev %d applied", st.Config.AppliedRevision)
		if st.Config.FromCache {
			cfg += " (cached: etcd not reached since start)"
		}
		if hs.State == "config-pending" {
			cfg += fmt.Sprintf(", rev %d stored", hs.ConfigRevision)
		}
		if st.Config.RejectReason != "" {
			cfg += fmt.Sprintf("; rev %d REJECTED: %s", st.Config.RejectedRevision, oneLine(st.Config.RejectReason, 160))
		}
		fmt.Fprintf(tw, "%s\t%s\tagent %s, heartbeat %s ago, %s\n",
			hs.Host, hs.State, st.Version, time.Duration(hs.HeartbeatAge)*time.Second, cfg)
		if len(st.Files) == 0 {
			fmt.Fprintln(tw, "\t\tno files")
			continue
		}
		fmt.Fprintln(tw, "\tPATH\tTOPIC\tOFFSET\tSIZE\tLAG\tERROR")
		sendErrs := map[string]SendError{}
		for _, e := range hs.SendErrors {
			sendErrs[e.Path] = e
		}
		for _, f := range st.Files {
			fmt.Fprintf(tw, "\t%s\t%s\t%d\t%d\t%d\t%s\n", f.Path, f.Topic, f.Offset, f.Size, f.LagBytes, fileErrors(f, sendErrs))
		}
		if st.FilesOmitted > 0 {
			fmt.Fprintf(tw, "\t… %d more files not listed (the agent lists the %d with errors or the most lag); lag of all files: %d\n",
				st.FilesOmitted, len(st.Files), st.LagBytes)
		}
	}
	return tw.Flush()
}

// fileErrors is a file's ERROR cell: its send error with its age, then its
// own error.
func fileErrors(f etcd.FileStatus, sendErrs map[string]SendError) string {
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
