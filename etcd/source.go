package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logagent/logagent/collect"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// healthyWatch is how long a watch must have run for its end to be treated as
// an interruption (re-read at once) rather than a failure (re-read after a
// growing backoff, so a watch that fails at once cannot spin).
const healthyWatch = 5 * time.Second

// Update is one version of one key a Source follows.
type Update struct {
	Key string
	// Value is the value as stored; nil when the key is missing.
	Value []byte
	// Revision is the key's ModRevision, 0 when the key is missing.
	Revision int64
}

// Source follows a few keys (the layers of one agent's collect config): their
// current values, then every change, across etcd outages, restarts and
// compactions. It reads them in one transaction, so the first values are of
// one revision, and watches each on the client's one stream.
type Source struct {
	cli  *clientv3.Client
	keys []string
	log  *slog.Logger
}

// NewSource returns a Source for keys. log defaults to slog.Default().
func NewSource(cli *clientv3.Client, keys []string, log *slog.Logger) *Source {
	if log == nil {
		log = slog.Default()
	}
	return &Source{cli: cli, keys: slices.Clone(keys), log: log.With("keys", keys)}
}

// Run calls apply with the keys' current values, then with every change,
// until ctx is done; it returns ctx.Err(). apply is called from Run's
// goroutine only, with the keys that changed, each in revision order and
// never twice for the same revision. Several changes of a key that arrive
// together are coalesced into the newest. While etcd is unreachable Run
// keeps retrying (with a capped backoff) and does not call apply.
func (s *Source) Run(ctx context.Context, apply func([]Update)) error {
	tr := make([]tracker, len(s.keys))
	readLog := newOutageLog(s.log, "read collect config")
	watchLog := newOutageLog(s.log, "watch collect config")
	bo := newRetryBackoff()
	for {
		rev, err := s.read(ctx, tr, apply)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			readLog.fail(err)
			if err := wait(ctx, bo.next()); err != nil {
				return err
			}
			continue
		}
		readLog.ok()

		started := time.Now()
		err = s.watch(ctx, rev+1, tr, apply, watchLog)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			// Expected after an outage long enough for a compaction, not a
			// failure: re-read at once to fetch what the watch missed.
			s.log.Info("etcd: watch resume revision was compacted; re-reading", "from_revision", rev+1)
			continue
		}
		watchLog.fail(err)
		if time.Since(started) >= healthyWatch {
			bo.reset()
			continue
		}
		if err := wait(ctx, bo.next()); err != nil {
			return err
		}
	}
}

// read gets the keys in one transaction, applies those not already applied,
// and returns the revision of the read.
func (s *Source) read(ctx context.Context, tr []tracker, apply func([]Update)) (int64, error) {
	gctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rev, kvs, err := getKeys(gctx, s.cli, s.keys)
	if err != nil {
		return 0, err
	}
	var news []Update
	for i, kv := range kvs {
		obs := observation{rev: rev}
		if kv != nil {
			obs.present, obs.modRev, obs.value = true, kv.ModRevision, kv.Value
		}
		news = s.deliver(news, i, &tr[i], obs)
	}
	if len(news) > 0 {
		apply(news)
	}
	return rev, nil
}

// getKeys reads keys in one transaction: the revision of the read and each
// key's value, nil where the key is missing.
func getKeys(ctx context.Context, cli *clientv3.Client, keys []string) (int64, []*mvccpb.KeyValue, error) {
	gets := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		gets[i] = clientv3.OpGet(k)
	}
	resp, err := cli.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", strings.Join(keys, ", "), err)
	}
	kvs := make([]*mvccpb.KeyValue, len(keys))
	for i, r := range resp.Responses {
		if got := r.GetResponseRange().Kvs; len(got) > 0 {
			kvs[i] = got[0]
		}
	}
	return resp.Header.Revision, kvs, nil
}

// ReadLayers reads the layers' keys in one transaction, as the agent does
// when it starts.
func ReadLayers(ctx context.Context, cli *clientv3.Client, prefix string, layers []collect.Layer) ([]collect.Version, error) {
	keys := make([]string, len(layers))
	for i, l := range layers {
		keys[i] = LayerKey(prefix, l)
	}
	_, kvs, err := getKeys(ctx, cli, keys)
	if err != nil {
		return nil, fmt.Errorf("read the layers of collect config: %w", err)
	}
	out := make([]collect.Version, len(layers))
	for i, kv := range kvs {
		out[i].Layer = layers[i]
		if kv != nil {
			out[i].Raw, out[i].Revision = kv.Value, kv.ModRevision
		}
	}
	return out, nil
}

// keyed is a watch response and the index of the key it is for; closed
// says that key's watch channel closed instead.
type keyed struct {
	at     int
	wr     clientv3.WatchResponse
	closed bool
}

// watch follows the keys from revision from until a watch ends, and returns
// why it ended.
func (s *Source) watch(ctx context.Context, from int64, tr []tracker, apply func([]Update), watchLog *outageLog) error {
	// Cancelling wctx on return releases the watchers on the shared stream
	// and ends the forwarders, which close merged.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	merged := make(chan keyed)
	var forwarders sync.WaitGroup
	for i, k := range s.keys {
		// An explicit start revision also matters on reconnects: clientv3
		// resumes a watch "from now" at its creation revision, replaying it.
		wch := s.cli.Watch(wctx, k, clientv3.WithRev(from), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
		forwarders.Go(func() { forward(wctx, i, wch, merged) })
	}
	go func() {
		forwarders.Wait()
		close(merged)
	}()
	defer func() {
		cancel()
		for range merged { // until the forwarders are gone
		}
	}()
	s.log.Debug("etcd: watching collect config", "from_revision", from)
	created := 0
	for {
		var kw keyed
		select {
		case <-ctx.Done():
			return ctx.Err()
		case kw = <-merged:
		}
		wr, key := kw.wr, s.keys[kw.at]
		if kw.closed {
			return fmt.Errorf("watch %s: channel closed", key)
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch %s: %w", key, err)
		}
		if wr.Canceled {
			return fmt.Errorf("watch %s: canceled by etcd", key)
		}
		if wr.Created {
			if created++; created == len(s.keys) {
				watchLog.ok()
			}
		}
		if len(wr.Events) == 0 {
			continue // created or progress notification
		}
		// Only the newest state matters; earlier ones in the same response
		// are already superseded.
		ev := wr.Events[len(wr.Events)-1]
		obs := observation{rev: ev.Kv.ModRevision}
		if ev.Type == mvccpb.PUT {
			obs.present, obs.modRev, obs.value = true, ev.Kv.ModRevision, ev.Kv.Value
		}
		if news := s.deliver(nil, kw.at, &tr[kw.at], obs); len(news) > 0 {
			apply(news)
		}
	}
}

// forward sends one watch's responses to merged until the watch channel
// closes (ctx cancelled, or the watch failed: its last response says why).
func forward(ctx context.Context, at int, wch clientv3.WatchChan, merged chan<- keyed) {
	for wr := range wch {
		select {
		case merged <- keyed{at: at, wr: wr}:
		case <-ctx.Done():
			return
		}
	}
	select {
	case merged <- keyed{at: at, closed: true}:
	case <-ctx.Done():
	}
}

// deliver appends key at's update to news unless it was already applied.
func (s *Source) deliver(news []Update, at int, tr *tracker, obs observation) []Update {
	lastSeen := tr.seen
	ok, replaced := tr.accept(obs)
	if replaced {
		s.log.Warn("etcd: revisions went backwards; the etcd data was restored or rebuilt, following it",
			"key", s.keys[at], "revision", obs.rev, "last_seen_revision", lastSeen)
	}
	if !ok {
		return news
	}
	u := Update{Key: s.keys[at]}
	if obs.present {
		u.Value, u.Revision = obs.value, obs.modRev
	}
	return append(news, u)
}

// observation is the state of the key as seen at etcd revision rev.
type observation struct {
	rev     int64 // revision at which the state was seen (Get header or event)
	present bool
	modRev  int64
	value   []byte
}

// tracker remembers the last applied state, so that re-reading after a
// reconnect or compaction never applies the same revision twice or an older
// one.
type tracker struct {
	started bool
	seen    int64 // newest revision observed
	present bool
	modRev  int64
	value   []byte
}

// accept reports whether obs is news to apply, and records it. replaced is
// set when obs contradicts the history so far (etcd's revision went
// backwards, which happens only when its data was restored or rebuilt); obs
// then starts a new history and is applied.
func (t *tracker) accept(obs observation) (apply, replaced bool) {
	if t.started {
		backwards := obs.rev < t.seen ||
			obs.present && t.present && (obs.modRev < t.modRev ||
				obs.modRev == t.modRev && !bytes.Equal(obs.value, t.value))
		same := obs.present == t.present && (!obs.present || obs.modRev == t.modRev)
		switch {
		case backwards:
			replaced = true
		case same:
			t.seen = obs.rev
			return false, false
		}
	}
	t.started = true
	t.seen = obs.rev
	t.present, t.modRev, t.value = obs.present, obs.modRev, obs.value
	return true, replaced
}
