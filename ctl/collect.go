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
	"path/filepath"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// Collect reads and edits hosts' collect configs. Every write is validated
// by etcd.ParseCollectConfig, the agent's own validator, shown as a diff,
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
	Host          string
	Read, Current int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("host %s: the collect config changed while you edited it (read at revision %d, now %d); nothing written: run the command again to see the new diff",
		e.Host, e.Read, e.Current)
}

// ErrCancelled is returned when Confirm declined the change.
var ErrCancelled = errors.New("cancelled; nothing written")

// stored is a key's value and its mod revision (0: the key does not exist).
type stored struct {
	value    []byte
	revision int64
}

func (c *Collect) read(ctx context.Context, host string) (stored, error) {
	key := etcd.CollectKey(c.prefix, host)
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

// Get writes host's collect config, indented, to w, and reports whether the
// agent would accept it. A missing key is an error.
func (c *Collect) Get(ctx context.Context, host string, w io.Writer) error {
	cur, err := c.read(ctx, host)
	if err != nil {
		return err
	}
	if cur.revision == 0 {
		return fmt.Errorf("host %s has no collect config (%s)", host, etcd.CollectKey(c.prefix, host))
	}
	if _, err := w.Write(indent(cur.value)); err != nil {
		return err
	}
	if _, perr := etcd.ParseCollectConfig(cur.value); perr != nil {
		return fmt.Errorf("host %s: the stored config (revision %d) is invalid; the agent keeps its last good one: %w", host, cur.revision, perr)
	}
	return nil
}

// Set replaces host's collect config with value.
func (c *Collect) Set(ctx context.Context, host string, value []byte, opt WriteOptions) error {
	return c.change(ctx, host, opt, func([]byte) ([]byte, error) { return value, nil })
}

// Add appends entry (one JSON object) to host's collect config, creating
// the key if needed. A path already listed is refused.
func (c *Collect) Add(ctx context.Context, host string, entry []byte, opt WriteOptions) error {
	var e struct{ Path string }
	if err := json.Unmarshal(entry, &e); err != nil {
		return fmt.Errorf("entry: %w", err)
	}
	return c.change(ctx, host, opt, func(cur []byte) ([]byte, error) {
		entries, err := rawEntries(cur)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(entries, func(r json.RawMessage) bool { return pathOf(r) == e.Path }) {
			return nil, fmt.Errorf("host %s already collects %s: rm it first, or use edit", host, e.Path)
		}
		return json.Marshal(append(entries, entry))
	})
}

// Remove drops the entry whose path is path.
func (c *Collect) Remove(ctx context.Context, host, path string, opt WriteOptions) error {
	return c.change(ctx, host, opt, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, fmt.Errorf("host %s has no collect config", host)
		}
		entries, err := rawEntries(cur)
		if err != nil {
			return nil, err
		}
		kept := slices.DeleteFunc(entries, func(r json.RawMessage) bool { return pathOf(r) == path })
		if len(kept) == len(entries) {
			return nil, fmt.Errorf("host %s has no entry with path %s", host, path)
		}
		return json.Marshal(kept)
	})
}

// Edit opens host's collect config in editor (a command line, like $EDITOR)
// and writes what was saved. An invalid result is not written: the error
// names the problem and the file keeping the edit.
func (c *Collect) Edit(ctx context.Context, host, editor string, opt WriteOptions) error {
	return c.change(ctx, host, opt, func(cur []byte) ([]byte, error) {
		if cur == nil {
			cur = []byte("[]")
		}
		f, err := os.CreateTemp("", "logctl-"+filepath.Base(host)+"-*.json")
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
		if _, err := etcd.ParseCollectConfig(edited); err != nil {
			return nil, fmt.Errorf("%w\nnothing written; your edit is in %s (logctl collect set --host %s -f %s)", err, name, host, name)
		}
		os.Remove(name)
		return edited, nil
	})
}

// change reads the key, computes the new value, validates it, shows the
// diff and writes it if the key has not changed since the read.
func (c *Collect) change(ctx context.Context, host string, opt WriteOptions, edit func(current []byte) ([]byte, error)) error {
	if err := checkHost(host); err != nil {
		return err
	}
	cur, err := c.read(ctx, host)
	if err != nil {
		return err
	}
	next, err := edit(cur.value)
	if err != nil {
		return err
	}
	if _, err := etcd.ParseCollectConfig(next); err != nil {
		return fmt.Errorf("host %s: config not written: %w", host, err)
	}
	next = indent(next)
	d := lineDiff(string(indent(cur.value)), string(next))
	if d == "" {
		fmt.Fprintf(c.out, "host %s: no change\n", host)
		return nil
	}
	key := etcd.CollectKey(c.prefix, host)
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
		return &ConflictError{Host: host, Read: cur.revision, Current: now}
	}
	fmt.Fprintf(c.out, "host %s: written at revision %d; the agent applies it within seconds (logctl status --host %s)\n",
		host, resp.Header.Revision, host)
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
		if entries, err := etcd.ParseCollectConfig(kv.Value); err != nil {
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
