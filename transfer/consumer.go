package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/backoff"
)

// Transfer consumes its topics as one member of a Kafka consumer group and
// indexes every message. A claim's messages are cut into batches; a batch's
// offsets are marked and committed only after every document of it is
// stored or dead-lettered. Until then nothing more is fetched for that
// partition, so a down search engine stops consumption instead of piling up.
//
// Its config can be replaced while it runs (Reload): the converter, the
// Elasticsearch client, batch limits, templates and retention follow at
// once; new Kafka settings end the current generation (dead-letter producer
// and group member) once its batches are committed, and a new one joins.
type Transfer struct {
	live    atomic.Pointer[parts] // the config in force and what was built from it
	policy  Policy
	metrics *Metrics
	log     *slog.Logger
	level   *slog.LevelVar     // the logger's level, or nil
	reloads chan reloadRequest // served by Run
	stopped chan struct{}      // closed when Run returns
}

// Options are New's optional settings.
type Options struct {
	// Policy tunes the retries of IndexBatch; the zero value is the default.
	Policy Policy
	// Level, if set, is the level of the logger New gets: a reload sets it
	// from log_level.
	Level *slog.LevelVar
}

// New builds a transfer from cfg: its converter, its Elasticsearch client
// and, when retention_days is set, its index retention. Nothing is contacted
// before Run.
func New(cfg *conf.Transfer, m *Metrics, log *slog.Logger, o Options) (*Transfer, error) {
	p, err := buildParts(cfg, nil, m, log)
	if err != nil {
		return nil, err
	}
	t := &Transfer{policy: o.Policy, metrics: m, log: log, level: o.Level,
		reloads: make(chan reloadRequest), stopped: make(chan struct{})}
	t.live.Store(p)
	return t, nil
}

// Run installs the index templates, starts retention and consumes until ctx
// is done, then leaves the group; meanwhile it applies what Reload hands it.
// ready is called once the first group session started. It returns an error
// only for Kafka settings that cannot be used; a stop while Kafka is
// unreachable returns nil.
func (t *Transfer) Run(ctx context.Context, ready func()) error {
	defer close(t.stopped)
	defer func() { t.live.Load().es.Stop() }()
	p := t.live.Load()
	t.installTemplates(ctx, p)
	ret := startRetention(ctx, p.retention)
	defer func() { ret.stop() }()
	gen := t.startGeneration(ctx, ready)
	for {
		select {
		case req := <-t.reloads:
			ch, err := t.apply(ctx, req.next, &ret)
			req.reply <- reloadReply{ch, err}
			if err == nil && ch.touches(rejoinKeys) {
				gen.drain()
			}
		case err := <-gen.done:
			if err != nil || ctx.Err() != nil {
				return err
			}
			gen = t.startGeneration(ctx, nil) // drained for new Kafka settings
		}
	}
}

// installTemplates installs the index template of every topic; an engine
// that refuses is warned about, not fatal.
func (t *Transfer) installTemplates(ctx context.Context, p *parts) {
	for _, topic := range p.cfg.Topics {
		if err := p.es.PutTemplate(ctx, topic, p.conv.FieldTypes(topic)); err != nil {
			t.log.Warn("index template not installed; Kibana may see strings where dates and keywords belong", "topic", topic, "error", err)
		}
	}
}

// consumerConfig is the consumer group's sarama config for cfg.
func consumerConfig(cfg *conf.Transfer) (*sarama.Config, error) {
	sc, err := cfg.Kafka.Sarama()
	if err != nil {
		return nil, err
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest // a new group reads what is already there
	sc.Consumer.Offsets.AutoCommit.Enable = false     // offsets move only after the engine stored the batch
	// A broker answers one connection's requests in order, so an offset
	// commit waits behind a fetch long-poll: keep the poll short (commits
	// are sent in the background, but the last one ends a catch-up).
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	sc.Consumer.Return.Errors = true
	sc.Consumer.Group.Session.Timeout = cfg.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = cfg.SessionTimeout / 3
	return sc, nil
}

// connect calls dial until it succeeds or ctx is done, so the daemon can be
// started before its brokers. Only the connection is retried: settings are
// built (and their errors reported) once, before.
func connect[T any](ctx context.Context, log *slog.Logger, brokers []string, dial func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		c, err := dial()
		if err == nil {
			return c, nil
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("Kafka not reachable yet; retrying", "brokers", brokers, "error", err, "attempt", attempt)
		}
		if err := backoff.Sleep(ctx, connectBackoff(attempt)); err != nil {
			return c, fmt.Errorf("stopped before Kafka was reachable: %w", err)
		}
	}
}

// connectBackoff paces reconnects and session retries: 100 ms to 5 s.
func connectBackoff(attempt int) time.Duration {
	return backoff.Delay(attempt, 100*time.Millisecond, 5*time.Second)
}

// handler is the sarama.ConsumerGroupHandler of one generation.
type handler struct {
	t     *Transfer
	dlq   DeadLetterWriter
	ready func()
	drain *drain

	// Per session: claims ask for a commit after marking a stored batch;
	// one committer goroutine sends them, so a claim never waits for the
	// broker's answer before indexing its next batch. Setup makes them,
	// Cleanup (after every claim returned) closes and waits.
	commitWanted  chan struct{}
	committerDone chan struct{}
}

func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	h.t.log.Info("consumer group session started", "member", sess.MemberID(), "claims", sess.Claims())
	h.commitWanted, h.committerDone = make(chan struct{}, 1), make(chan struct{})
	go func(wanted <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		for range wanted { // coalesced: one commit covers every mark before it
			sess.Commit()
		}
	}(h.commitWanted, h.committerDone)
	if h.ready != nil {
		h.ready()
		h.ready = nil
	}
	return nil
}

// Cleanup commits the last marks before the session's claims move on.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	close(h.commitWanted)
	<-h.committerDone
	sess.Commit()
	return nil
}

// requestCommit asks the committer to commit what is marked; it never blocks.
func (h *handler) requestCommit() {
	select {
	case h.commitWanted <- struct{}{}:
	default: // one is pending and will include this mark
	}
}

// ConsumeClaim batches one partition's messages and stores each batch before
// taking the next. On a rebalance the batch in progress is either finished
// or abandoned uncommitted; its messages are redelivered and overwrite the
// same document ids. When the generation drains, the claim stores what it
// holds and waits for the session to end.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	if !h.drain.enter() {
		<-ctx.Done() // see stored
		return nil
	}
	leave := sync.OnceFunc(h.drain.leave)
	defer leave()
	c := &claimBatch{h: h, sess: sess, claim: claim, partition: strconv.Itoa(int(claim.Partition()))}
	// stored ends a drained claim. A claim that returns ends the session
	// for all (sarama), which would abandon the batches other claims are
	// still storing: it waits for the session to end instead.
	stored := func() error {
		err := c.flush(ctx)
		leave()
		<-ctx.Done()
		return ignoreCancel(err)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-h.drain.requested:
			return stored()
		default:
		}
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return c.flush(ctx) // rebalance: finish what we hold
			}
			batch := h.t.live.Load().cfg.Batch
			if c.add(m) {
				timer.Reset(batch.MaxWait)
			}
			if len(c.msgs) >= batch.MaxDocs || c.bytes >= int(batch.MaxBytes) {
				if err := c.flush(ctx); err != nil {
					return ignoreCancel(err)
				}
			}
		case <-timer.C:
			if err := c.flush(ctx); err != nil {
				return ignoreCancel(err)
			}
		case <-h.drain.requested:
			return stored()
		case <-ctx.Done():
			return nil // abandoned uncommitted
		}
	}
}

// claimBatch is the batch a claim is filling.
type claimBatch struct {
	h         *handler
	sess      sarama.ConsumerGroupSession
	claim     sarama.ConsumerGroupClaim
	partition string
	msgs      []*sarama.ConsumerMessage
	bytes     int
}

// add appends m and reports whether it is the batch's first.
func (c *claimBatch) add(m *sarama.ConsumerMessage) (first bool) {
	c.h.t.metrics.Consumed.Inc()
	c.msgs = append(c.msgs, m)
	c.bytes += len(m.Value)
	return len(c.msgs) == 1
}

// flush indexes the batch with the converter and client in force, then
// marks and commits it. An error (the session ended) marks nothing: the
// messages are redelivered to the partition's next owner.
func (c *claimBatch) flush(ctx context.Context) error {
	if len(c.msgs) == 0 {
		return nil
	}
	t := c.h.t
	conv := t.live.Load().conv
	docs := make([]Doc, 0, len(c.msgs))
	for _, m := range c.msgs {
		d := conv.Document(m)
		switch {
		case d.Pipeline.Dropped != "":
			t.metrics.PipelineDropped.WithLabelValues(m.Topic, d.Pipeline.Dropped).Inc()
			continue // done: its offset is marked with the batch's
		case d.Pipeline.Failed != "":
			t.metrics.PipelineFailed.WithLabelValues(m.Topic, d.Pipeline.Failed).Inc()
		}
		docs = append(docs, d)
	}
	start := time.Now()
	stats, err := t.policy.IndexBatch(ctx, liveIndexer{t}, c.h.dlq, docs, t.log)
	t.metrics.Indexed.Add(float64(stats.Indexed))
	t.metrics.DeadLettered.Add(float64(stats.DeadLettered))
	t.metrics.Retried.Add(float64(stats.Retries))
	t.metrics.BulkRequests.Add(float64(stats.Requests))
	if err != nil {
		return err
	}
	t.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
	stored := time.Now()
	for i := range docs {
		if rt := docs[i].ReadTime; !rt.IsZero() {
			t.metrics.EventDelay.Observe(max(0, stored.Sub(rt).Seconds()))
		}
	}
	t.metrics.BatchSize.Observe(float64(len(docs)))
	last := c.msgs[len(c.msgs)-1]
	c.sess.MarkMessage(last, "")
	c.h.requestCommit()
	t.metrics.Committed.Inc()
	t.metrics.Lag.WithLabelValues(c.claim.Topic(), c.partition).Set(float64(max(0, c.claim.HighWaterMarkOffset()-last.Offset-1)))
	c.msgs, c.bytes = c.msgs[:0], 0
	return nil
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
