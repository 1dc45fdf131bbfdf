package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// healthyWatch is how long a watch must have run for its end to be treated as
// an interruption (re-read at once) rather than a failure (re-read after a
// growing backoff, so a watch that fails at once cannot spin).
const healthyWatch = 5 * time.Second

// Update is one version of the collect config key.
type Update struct {
	// Entries is the parsed config; nil when Err != nil. A missing key is an
	// empty, non-nil list.
	Entries []Entry
	// Raw is the value as stored; nil when the key is missing.
	Raw []byte
	// Revision is the key's ModRevision, 0 when the key is missing.
	Revision int64
	// Err is set when the value at Revision was rejected by
	// ParseCollectConfig; the caller keeps its last good config.
	Err error
}

// Source follows one collect config key: the current value, then every
// change, across etcd outages, restarts and compactions.
type Source struct {
	cli *clientv3.Client
	key string
	log *slog.Logger
}

// NewSource returns a Source for key. log defaults to slog.Default().
func NewSource(cli *clientv3.Client, key string, log *slog.Logger) *Source {
	if log == nil {
		log = slog.Default()
	}
	return &Source{cli: cli, key: key, log: log.With("key", key)}
}

// Run calls apply with the current value, then on every change, until ctx is
// done; it returns ctx.Err(). apply is called from Run's goroutine only, in
// revision order, never twice for the same revision. Several changes that
// arrive together are coalesced into the newest. While etcd is unreachable
// Run keeps retrying (with a capped backoff) and does not call apply.
func (s *Source) Run(ctx context.Context, apply func(Update)) error {
	var tr tracker
	readLog := newOutageLog(s.log, "read collect config")
	watchLog := newOutageLog(s.log, "watch collect config")
	bo := newRetryBackoff()
	for {
		rev, err := s.read(ctx, &tr, apply)
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
		err = s.watch(ctx, rev+1, &tr, apply, watchLog)
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

// read gets the key, applies it unless already applied, and returns the
// revision of the read.
func (s *Source) read(ctx context.Context, tr *tracker, apply func(Update)) (int64, error) {
	gctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := s.cli.Get(gctx, s.key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", s.key, err)
	}
	obs := observation{rev: resp.Header.Revision}
	if len(resp.Kvs) > 0 {
		kv := resp.Kvs[0]
		obs.present, obs.modRev, obs.value = true, kv.ModRevision, kv.Value
	}
	s.deliver(tr, obs, apply)
	return resp.Header.Revision, nil
}

// watch follows the key from revision from until the watch ends, and returns
// why it ended.
func (s *Source) watch(ctx context.Context, from int64, tr *tracker, apply func(Update), watchLog *outageLog) error {
	// Cancelling wctx on return releases the watcher on the shared stream.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// An explicit start revision also matters on reconnects: clientv3
	// resumes a watch "from now" at its creation revision, replaying it.
	wch := s.cli.Watch(wctx, s.key, clientv3.WithRev(from), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	s.log.Debug("etcd: watching collect config", "from_revision", from)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch channel closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch %s: %w", s.key, err)
			}
			if wr.Canceled {
				return fmt.Errorf("watch %s: canceled by etcd", s.key)
			}
			if wr.Created {
				watchLog.ok()
			}
			if len(wr.Events) == 0 {
				continue // created or progress notification
			}
			// Only the newest state matters; earlier ones in the same
			// response are already superseded.
			ev := wr.Events[len(wr.Events)-1]
			obs := observation{rev: ev.Kv.ModRevision}
			if ev.Type == mvccpb.PUT {
				obs.present, obs.modRev, obs.value = true, ev.Kv.ModRevision, ev.Kv.Value
			}
			s.deliver(tr, obs, apply)
		}
	}
}

// deliver applies obs unless it was already applied.
func (s *Source) deliver(tr *tracker, obs observation, apply func(Update)) {
	lastSeen := tr.seen
	ok, replaced := tr.accept(obs)
	if replaced {
		s.log.Warn("etcd: revisions went backwards; the etcd data was restored or rebuilt, following it",
			"revision", obs.rev, "last_seen_revision", lastSeen)
	}
	if !ok {
		return
	}
	if !obs.present {
		s.log.Debug("etcd: collect config key is missing")
		apply(Update{Entries: []Entry{}})
		return
	}
	entries, err := ParseCollectConfig(obs.value)
	if err != nil {
		apply(Update{Raw: obs.value, Revision: obs.modRev, Err: err})
		return
	}
	apply(Update{Entries: entries, Raw: obs.value, Revision: obs.modRev})
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
