package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
type Transfer struct {
	cfg     *conf.Transfer
	conv    *Converter
	idx     Indexer
	dlq     DeadLetterWriter
	policy  Policy
	metrics *Metrics
	log     *slog.Logger
}

// New assembles a transfer from its parts.
func New(cfg *conf.Transfer, conv *Converter, idx Indexer, dlq DeadLetterWriter, policy Policy, m *Metrics, log *slog.Logger) *Transfer {
	return &Transfer{cfg: cfg, conv: conv, idx: idx, dlq: dlq, policy: policy, metrics: m, log: log}
}

// Run consumes until ctx is done, then leaves the group. ready is called
// once the first group session started.
func (t *Transfer) Run(ctx context.Context, ready func()) error {
	for _, topic := range t.cfg.Topics {
		if err := t.idx.PutTemplate(ctx, topic); err != nil {
			t.log.Warn("index template not installed; Kibana may see strings where dates and keywords belong", "topic", topic, "error", err)
		}
	}
	sc, err := t.cfg.Kafka.Sarama()
	if err != nil {
		return err
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest // a new group reads what is already there
	sc.Consumer.Offsets.AutoCommit.Enable = false     // offsets move only after the engine stored the batch
	// A broker answers one connection's requests in order, so an offset
	// commit waits behind a fetch long-poll: keep the poll short (commits
	// are sent in the background, but the last one ends a catch-up).
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	sc.Consumer.Return.Errors = true
	sc.Consumer.Group.Session.Timeout = t.cfg.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = t.cfg.SessionTimeout / 3
	group, err := t.joinGroup(ctx, sc)
	if err != nil {
		return err
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() { // closed by group.Close
			t.log.Warn("Kafka consumer error", "error", err)
		}
	}()
	h := &handler{t: t, ready: ready}
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := group.Consume(ctx, t.cfg.Topics, h)
		if err == nil || ctx.Err() != nil {
			attempt = 0
			continue // a rebalance ended the session: join the next one
		}
		t.log.Warn("consumer group session failed; retrying", "error", err, "attempt", attempt)
		if err := backoff.Sleep(ctx, connectBackoff(attempt)); err != nil {
			break
		}
	}
	return nil
}

// joinGroup retries while the brokers are unreachable.
func (t *Transfer) joinGroup(ctx context.Context, sc *sarama.Config) (sarama.ConsumerGroup, error) {
	return connect(ctx, t.log, t.cfg.Kafka.Brokers, func() (sarama.ConsumerGroup, error) {
		return sarama.NewConsumerGroup(t.cfg.Kafka.Brokers, t.cfg.GroupID, sc)
	})
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

// handler is the sarama.ConsumerGroupHandler.
type handler struct {
	t     *Transfer
	ready func()

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
// same document ids.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	t := h.t
	ctx := sess.Context()
	partition := strconv.Itoa(int(claim.Partition()))
	var (
		msgs  []*sarama.ConsumerMessage
		bytes int
		timer = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		docs := make([]Doc, len(msgs))
		for i, m := range msgs {
			docs[i] = t.conv.Document(m)
		}
		start := time.Now()
		stats, err := t.policy.IndexBatch(ctx, t.idx, t.dlq, docs, t.log)
		t.metrics.Indexed.Add(float64(stats.Indexed))
		t.metrics.DeadLettered.Add(float64(stats.DeadLettered))
		t.metrics.Retried.Add(float64(stats.Retries))
		t.metrics.BulkRequests.Add(float64(stats.Requests))
		if err != nil {
			return err // session over: nothing marked, redelivered to the next owner
		}
		t.metrics.BatchSeconds.Observe(time.Since(start).Seconds())
		t.metrics.BatchSize.Observe(float64(len(docs)))
		last := msgs[len(msgs)-1]
		sess.MarkMessage(last, "")
		h.requestCommit()
		t.metrics.Committed.Inc()
		t.metrics.Lag.WithLabelValues(claim.Topic(), partition).Set(float64(max(0, claim.HighWaterMarkOffset()-last.Offset-1)))
		msgs, bytes = msgs[:0], 0
		return nil
	}
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return flush() // rebalance: finish what we hold
			}
			t.metrics.Consumed.Inc()
			if len(msgs) == 0 {
				timer.Reset(t.cfg.Batch.MaxWait)
			}
			msgs = append(msgs, m)
			bytes += len(m.Value)
			if len(msgs) >= t.cfg.Batch.MaxDocs || bytes >= int(t.cfg.Batch.MaxBytes) {
				if err := flush(); err != nil {
					return ignoreCancel(err)
				}
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return ignoreCancel(err)
			}
		case <-ctx.Done():
			return nil // abandoned uncommitted
		}
	}
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
