package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/logagent/logagent/conf"
)

// Top-level settings by what a reload does when they change. Every other
// setting (batch, parse, json_target, index, log_level) is read where it is
// used, from the config in force.
var (
	// restartKeys apply only at start: the metrics listener is bound once.
	restartKeys = []string{"http_listen"}
	// rejoinKeys end the Kafka generation: its batches are committed, the
	// group is left and joined again with the new settings.
	rejoinKeys = []string{"kafka", "group_id", "session_timeout", "topics", "dlq_topic"}
	// templateKeys install the index templates again.
	templateKeys = []string{"elasticsearch", "index", "index_settings", "topics", "pipelines"}
	// retentionKeys restart index retention.
	retentionKeys = []string{"elasticsearch", "index", "topics", "retention_days"}
)

// parts are a config and what the transfer built from it.
type parts struct {
	cfg       *conf.Transfer
	conv      *Converter
	es        *Elastic
	retention *Retention // nil when retention_days is 0
	// The credentials' contents when built (CredentialDigest), so a rotated
	// password file or certificate counts as a change.
	esDigest, kafkaDigest string
}

// buildParts builds what cfg needs, or fails the way a start with cfg would.
// The Elasticsearch client of cur is kept when its settings did not change.
func buildParts(cfg *conf.Transfer, cur *parts, m *Metrics, log *slog.Logger) (*parts, error) {
	p := &parts{cfg: cfg}
	var err error
	if p.conv, err = NewConverter(cfg); err != nil {
		return nil, err
	}
	if p.esDigest, err = cfg.Elasticsearch.CredentialDigest(); err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	if p.kafkaDigest, err = cfg.Kafka.CredentialDigest(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if _, err := consumerConfig(cfg); err != nil { // now, not when the group is joined
		return nil, err
	}
	if cur != nil && !slices.Contains(cur.changes(p), "elasticsearch") {
		p.es = cur.es
	} else if p.es, err = NewElastic(cfg, log); err != nil {
		return nil, err
	}
	if cfg.RetentionDays > 0 {
		if p.retention, err = NewRetention(cfg, p.es, m, log); err != nil {
			if cur == nil || p.es != cur.es {
				p.es.Stop()
			}
			return nil, err
		}
	}
	return p, nil
}

// changes lists the top-level settings next changes: conf.Changed, plus
// kafka or elasticsearch when only their credentials' contents did.
func (p *parts) changes(next *parts) []string {
	keys := conf.Changed(p.cfg, next.cfg)
	if p.kafkaDigest != next.kafkaDigest && !slices.Contains(keys, "kafka") {
		keys = append(keys, "kafka")
	}
	if p.esDigest != next.esDigest && !slices.Contains(keys, "elasticsearch") {
		keys = append(keys, "elasticsearch")
	}
	return keys
}

// Changes is what a reload changed, by top-level setting.
type Changes struct {
	Applied      []string // in force now
	NeedsRestart []string // kept as they run until a restart
}

func (c Changes) touches(keys []string) bool {
	return slices.ContainsFunc(c.Applied, func(k string) bool { return slices.Contains(keys, k) })
}

type reloadRequest struct {
	next  *conf.Transfer
	reply chan reloadReply
}

type reloadReply struct {
	changes Changes
	err     error
}

// Reload hands Run a new config, loaded and validated like the one at start
// (conf.LoadTransfer), and returns what changed once it is applied (and
// logged). On an error nothing is applied and the running config stays.
//
// The converter (index, parse, json_target), batch limits and log level
// apply to the next batch. New Elasticsearch settings or credentials replace
// the client: a batch waiting for the old engine is sent to the new one.
// Templates and retention are set up again when what they depend on
// changed. New Kafka settings, group, topics or dead-letter topic end the
// current generation once the batches in flight are committed, and a new one
// joins: nothing is lost, nothing is committed that was not indexed.
// http_listen needs a restart.
func (t *Transfer) Reload(ctx context.Context, next *conf.Transfer) (Changes, error) {
	req := reloadRequest{next: next, reply: make(chan reloadReply, 1)}
	select {
	case t.reloads <- req:
	case <-t.stopped:
		return Changes{}, errors.New("reload: the transfer is not running")
	case <-ctx.Done():
		return Changes{}, fmt.Errorf("reload: %w", ctx.Err())
	}
	r := <-req.reply
	return r.changes, r.err
}

// apply is Reload's work, in Run's goroutine; ret is the running retention.
func (t *Transfer) apply(ctx context.Context, next *conf.Transfer, ret *retentionRun) (Changes, error) {
	cur := t.live.Load()
	effective := *next
	effective.HTTPListen = cur.cfg.HTTPListen // bound at start
	p, err := buildParts(&effective, cur, t.metrics, t.log)
	if err != nil {
		return Changes{}, err
	}
	var ch Changes
	if next.HTTPListen != cur.cfg.HTTPListen {
		ch.NeedsRestart = slices.Clone(restartKeys)
		t.log.Warn("changed settings apply only after a restart; they keep their running values", "settings", ch.NeedsRestart)
	}
	ch.Applied = cur.changes(p)
	if len(ch.Applied) == 0 {
		t.log.Info("config reloaded; nothing to apply", "needs_restart", ch.NeedsRestart)
		return ch, nil
	}
	t.live.Store(p)
	if t.level != nil {
		t.level.Set(conf.SlogLevel(p.cfg.LogLevel))
	}
	if ch.touches(templateKeys) {
		t.installTemplates(ctx, p)
	}
	if ch.touches(retentionKeys) {
		ret.stop()
		*ret = startRetention(ctx, p.retention)
	}
	if p.es != cur.es {
		cur.es.Stop()
	}
	t.log.Info("config reloaded", "applied", ch.Applied, "needs_restart", ch.NeedsRestart)
	return ch, nil
}

// liveIndexer sends every call to the client in force, so a batch waiting
// for an engine is sent to the new one once a reload replaced it.
type liveIndexer struct{ t *Transfer }

func (l liveIndexer) Bulk(ctx context.Context, docs []Doc) ([]ItemResult, error) {
	return l.t.live.Load().es.Bulk(ctx, docs)
}

func (l liveIndexer) Probe(ctx context.Context) error { return l.t.live.Load().es.Probe(ctx) }

// retentionRun is retention running in its goroutine; the zero value runs
// nothing.
type retentionRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startRetention(ctx context.Context, r *Retention) retentionRun {
	if r == nil {
		return retentionRun{}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return retentionRun{cancel: cancel, done: done}
}

// stop ends the retention and waits until it has.
func (r retentionRun) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}
