package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// Collect reads and edits the layers of collect config: _common, a group's,
// a host's. Every write is validated
// by collect.ParseCollectConfig, the agent's own validator, shown as a diff,
// and made with a transaction that compares the key's mod revision with the
// one read, so a concurrent edit is never overwritten silently.
type Collect struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration // of each etcd request
	out     io.Writer     // diffs and messages
}

// NewCollect edits the keys under prefix (etcd.prefix, ending in "/");
// timeout bounds each etcd request, not the time an editor or a prompt takes.
func NewCollect(cli *clientv3.Client, prefix string, timeout time.Duration, out io.Writer) *Collect {
	return &Collect{cli: cli, prefix: prefix, timeout: timeout, out: out}
}

// WriteOptions control a change.
type WriteOptions struct {
	// DryRun shows the diff and writes nothing.
	DryRun bool
	// Confirm, when set, is asked after the diff is shown; false cancels.
	Confirm func() bool
}

// ConflictError is returned when the key changed between read and write.
type ConflictError struct {
	Layer         collect.Layer
	Read, Current int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: the collect config changed while you edited it (read at revision %d, now %d); nothing written: run the command again to see the new diff",
		describe(e.Layer), e.Read, e.Current)
}

// describe names a layer in messages: "host web-1", "group web", "_common".
func describe(l collect.Layer) string {
	switch l.Kind {
	case collect.Host:
		return "host " + l.Name
	case collect.Group:
		return "group " + l.Name
	default:
		return l.String()
	}
}

// ErrCancelled is returned when Confirm declined the change.
var ErrCancelled = errors.New("cancelled; nothing written")

// stored is a key's value and its mod revision (0: the key does not exist).
type stored struct {
	value    []byte
	revision int64
}

func (c *Collect) read(ctx context.Context, l collect.Layer) (stored, error) {
	key := etcd.LayerKey(c.prefix, l)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.cli.Get(ctx, key)
	if err != nil {
		return stored{}, fmt.Errorf("read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return stored{}, nil
	}
	return stored{value: resp.Kvs[0].Value, revision: resp.Kvs[0].ModRevision}, nil
}

// Get writes a layer's collect config, indented, to w, and reports whether
// the agent would accept it. A missing key is an error.
func (c *Collect) Get(ctx context.Context, l collect.Layer, w io.Writer) error {
	cur, err := c.read(ctx, l)
	if err != nil {
		return err
	}
	if cur.revision == 0 {
		return fmt.Errorf("%s has no collect config (%s)", describe(l), etcd.LayerKey(c.prefix, l))
	}
	if _, err := w.Write(indent(cur.value)); err != nil {
		return err
	}
	if _, perr := collect.ParseCollectConfig(cur.value); perr != nil {
		return fmt.Errorf("%s: the stored config (revision %d) is invalid; the agent keeps its last good one: %w", describe(l), cur.revision, perr)
	}
	return nil
}

// Set replaces host's collect config with value.
func (c *Collect) Set(ctx context.Context, l collect.Layer, value []byte, opt WriteOptions) error {
	return c.change(ctx, l, opt, func([]byte) ([]byte, error) { return value, nil })
}

// Add appends entry (one JSON object) to host's collect config, creating
// the key if needed. A path already listed is refused.
func (c *Collect) Add(ctx context.Context, l collect.Layer, entry []byte, opt WriteOptions) error {
	var e struct{ Path string }
	if err := json.Unmarshal(entry, &e); err != nil {
		return fmt.Errorf("entry: %w", err)
	}
	return c.change(ctx, l, opt, func(cur []byte) ([]byte, error) {
		entries, err := rawEntries(cur)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(entries, func(r json.RawMessage) bool { return pathOf(r) == e.Path }) {
			return nil, fmt.Errorf("%s already collects %s: rm it first, or use edit", describe(l), e.Path)
		}
		return json.Marshal(append(entries, entry))
	})
}

// Remove drops the entry whose path is path.
func (c *Collect) Remove(ctx context.Context, l collect.Layer, path string, opt WriteOptions) error {
	return c.change(ctx, l, opt, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, fmt.Errorf("%s has no collect config", describe(l))
		}
		entries, err := rawEntries(cur)
		if err != nil {
			return nil, err
		}
		kept := slices.DeleteFunc(entries, func(r json.RawMessage) bool { return pathOf(r) == path })
		if len(kept) == len(entries) {
			return nil, fmt.Errorf("%s has no entry with path %s", describe(l), path)
		}
		return json.Marshal(kept)
	})
}

// Edit opens a layer's collect config in editor (a command line, like $EDITOR)
// and writes what was saved. An invalid result is not written: the error
// names the problem and the file keeping the edit.
func (c *Collect) Edit(ctx context.Context, l collect.Layer, editor string, opt WriteOptions) error {
	return c.change(ctx, l, opt, func(cur []byte) ([]byte, error) {
		if cur == nil {
			cur = []byte("[]")
		}
		f, err := os.CreateTemp("", "logctl-"+strings.ReplaceAll(l.String(), "/", "-")+"-*.json")
		if err != nil {
			return nil, err
		}
		name := f.Name()
		_, err = f.Write(indent(cur))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		args := strings.Fields(editor)
		if len(args) == 0 {
			return nil, errors.New("no editor: set $VISUAL or $EDITOR")
		}
		cmd := exec.CommandContext(ctx, args[0], append(args[1:], name)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("editor %q: %w (your edit is in %s)", editor, err, name)
		}
		edited, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if _, err := collect.ParseCollectConfig(edited); err != nil {
			return nil, fmt.Errorf("%w\nnothing written; your edit is in %s (logctl collect set %s -f %s)", err, name, layerFlag(l), name)
		}
		os.Remove(name)
		return edited, nil
	})
}

// change reads the key, computes the new value, validates it, shows the
// diff and writes it if the key has not changed since the read.
func (c *Collect) change(ctx context.Context, l collect.Layer, opt WriteOptions, edit func(current []byte) ([]byte, error)) error {
	if err := checkLayer(l); err != nil {
		return err
	}
	cur, err := c.read(ctx, l)
	if err != nil {
		return err
	}
	next, err := edit(cur.value)
	if err != nil {
		return err
	}
	if _, err := collect.ParseCollectConfig(next); err != nil {
		return fmt.Errorf("%s: config not written: %w", describe(l), err)
	}
	next = indent(next)
	d := lineDiff(string(indent(cur.value)), string(next))
	if d == "" {
		fmt.Fprintf(c.out, "%s: no change\n", describe(l))
		return nil
	}
	key := etcd.LayerKey(c.prefix, l)
	fmt.Fprintf(c.out, "--- %s (revision %d)\n+++ %s (new)\n%s", key, cur.revision, key, d)
	if opt.DryRun {
		fmt.Fprintln(c.out, "dry run: nothing written")
		return nil
	}
	if opt.Confirm != nil && !opt.Confirm() {
		return ErrCancelled
	}
	txnCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.cli.Txn(txnCtx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.revision)).
		Then(clientv3.OpPut(key, string(next))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if !resp.Succeeded {
		now := int64(0)
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			now = kvs[0].ModRevision
		}
		return &ConflictError{Layer: l, Read: cur.revision, Current: now}
	}
	fmt.Fprintf(c.out, "%s: written at revision %d; %s apply it within seconds (logctl status%s)\n",
		describe(l), resp.Header.Revision, appliers(l), statusFilter(l))
	return nil
}

// HostConfig is one host's collect config as listed by Hosts.
type HostConfig struct {
	Host     string `json:"host"`
	Revision int64  `json:"revision"`
	Entries  int    `json:"entries"`
	Error    string `json:"error,omitempty"` // why the agent rejects it
}

// Hosts lists every host with a collect config under the prefix.
func (c *Collect) Hosts(ctx context.Context) ([]HostConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.cli.Get(ctx, c.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", c.prefix, err)
	}
	var hosts []HostConfig
	for _, kv := range resp.Kvs {
		host, ok := etcd.HostOfCollectKey(c.prefix, string(kv.Key))
		if !ok {
			continue
		}
		h := HostConfig{Host: host, Revision: kv.ModRevision}
		if entries, err := collect.ParseCollectConfig(kv.Value); err != nil {
			h.Error = err.Error()
		} else {
			h.Entries = len(entries)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// checkHost refuses names that would address another key.
func checkHost(host string) error {
	if host == "" {
		return errors.New("--host is required")
	}
	if err := conf.ValidateHostID(host); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// checkLayer refuses layer names that would address another key.
func checkLayer(l collect.Layer) error {
	switch l.Kind {
	case collect.Host:
		return checkHost(l.Name)
	case collect.Group:
		if err := conf.ValidateGroupName(l.Name); err != nil {
			return fmt.Errorf("group: %w", err)
		}
	}
	return nil
}

// layerFlag is the logctl flag that names l.
func layerFlag(l collect.Layer) string {
	switch l.Kind {
	case collect.Host:
		return "--host " + l.Name
	case collect.Group:
		return "--group " + l.Name
	default:
		return "--common"
	}
}

// appliers says which agents take a layer, for the message after a write.
func appliers(l collect.Layer) string {
	switch l.Kind {
	case collect.Host:
		return "the agent should"
	case collect.Group:
		return "the agents with " + l.Name + " in their groups should"
	default:
		return "all agents should"
	}
}

// statusFilter is the logctl status filter that shows the agents taking l:
// every agent takes the common layer.
func statusFilter(l collect.Layer) string {
	if l.Kind == collect.Common {
		return ""
	}
	return " " + layerFlag(l)
}

// rawEntries splits a stored config into its entries, untouched, so add and
// rm keep every other entry exactly as the operator wrote it.
func rawEntries(value []byte) ([]json.RawMessage, error) {
	if value == nil {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(value, &entries); err != nil {
		return nil, fmt.Errorf("the stored config is not a JSON array (%v): fix it with set or edit", err)
	}
	return entries, nil
}

func pathOf(entry json.RawMessage) string {
	var e struct{ Path string }
	_ = json.Unmarshal(entry, &e)
	return e.Path
}

// indent pretty-prints JSON (keeping key order) so diffs are line by line;
// a value that is not JSON is returned as it is.
func indent(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(v), "", "  "); err != nil {
		return v
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// EffectiveEntry is one entry of a host's merged config and its layer.
type EffectiveEntry struct {
	Layer    string        `json:"layer"`
	Revision int64         `json:"revision"`
	Entry    collect.Entry `json:"entry"`
}

// Effective is what host's agent runs when it has applied the stored layers:
// _common, its groups (nil: the groups its status names), its own, merged as
// the agent merges them. Layers the agent would reject are reported in the
// error, after the rest is written.
func (c *Collect) Effective(ctx context.Context, host string, groups []string, w io.Writer) error {
	if err := checkHost(host); err != nil {
		return err
	}
	if groups == nil {
		var err error
		if groups, err = c.GroupsOf(ctx, host); err != nil {
			return err
		}
	}
	layers := collect.LayersOf(host, groups)
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	versions, err := etcd.ReadLayers(rctx, c.cli, c.prefix, layers)
	if err != nil {
		return err
	}
	stack := collect.NewStack(layers)
	rejected := stack.Apply(versions)
	revision := map[collect.Layer]int64{}
	for _, v := range stack.InForce() {
		revision[v.Layer] = v.Revision
	}
	out := []EffectiveEntry{}
	for _, s := range stack.Effective() {
		out = append(out, EffectiveEntry{Layer: s.Layer.String(), Revision: revision[s.Layer], Entry: s.Entry})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	var problems []string
	for _, r := range rejected {
		problems = append(problems, fmt.Sprintf("layer %s (revision %d) is rejected and left out: %s", r.Layer, r.Revision, r.Reason))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// GroupsOf reads the groups host's agent says it takes, from its status.
func (c *Collect) GroupsOf(ctx context.Context, host string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	key := etcd.StatusKey(c.prefix, host)
	resp, err := c.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("host %s has no status (its agent is not running), so its groups are unknown: name them with --groups a,b", host)
	}
	var st collect.Status
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return nil, fmt.Errorf("status of %s is not valid JSON: %w", host, err)
	}
	return append([]string{}, st.Groups...), nil
}
