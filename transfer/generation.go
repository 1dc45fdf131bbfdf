package transfer

import (
	"context"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/backoff"
)

// drainTimeout bounds how long a drain waits for the batches in flight (an
// unreachable engine holds them); then they are left uncommitted and the
// next generation reads them again.
const drainTimeout = 30 * time.Second

// generation is one connection to Kafka: a dead-letter producer and a
// consumer group member, built from the config in force when it started.
// A reload that changes Kafka settings drains it; Run then starts the next.
type generation struct {
	d    *drain
	done chan error // receives runGeneration's result
}

func (t *Transfer) startGeneration(ctx context.Context, ready func()) *generation {
	g := &generation{d: newDrain(), done: make(chan error, 1)}
	cfg := t.live.Load().cfg
	go func() { g.done <- t.runGeneration(ctx, cfg, g.d, ready) }()
	return g
}

// drain asks the generation to store the batches it holds, commit them and
// leave the group; it does not wait.
func (g *generation) drain() { g.d.start() }

// runGeneration connects to Kafka with cfg, consumes until ctx is done or
// the drain starts, and leaves the group. Only unusable settings are an
// error.
func (t *Transfer) runGeneration(ctx context.Context, cfg *conf.Transfer, d *drain, ready func()) error {
	sc, err := consumerConfig(cfg)
	if err != nil {
		return err
	}
	dlq, group, err := t.connectKafka(ctx, cfg, sc, d)
	switch {
	case err != nil && ctx.Err() != nil:
		t.log.Info("stopped before Kafka was reachable")
		return nil
	case err != nil && d.started():
		return nil // a newer config replaces this one
	case err != nil:
		return err
	}
	defer dlq.Close()
	defer func() {
		if err := group.Close(); err != nil {
			t.log.Warn("leaving the consumer group", "error", err)
		}
	}()
	go func() {
		for err := range group.Errors() { // closed by group.Close
			t.log.Warn("Kafka consumer error", "error", err)
		}
	}()
	t.consume(ctx, cfg.Topics, group, &handler{t: t, dlq: dlq, ready: ready, drain: d})
	return nil
}

// connectKafka starts the dead-letter producer and joins the group,
// retrying while the brokers are unreachable, until ctx is done or the
// drain starts.
func (t *Transfer) connectKafka(ctx context.Context, cfg *conf.Transfer, sc *sarama.Config, d *drain) (*KafkaDeadLetters, sarama.ConsumerGroup, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.requested:
			cancel()
		case <-ctx.Done():
		}
	}()
	dlq, err := ConnectDeadLetters(ctx, cfg, t.log)
	if err != nil {
		return nil, nil, err
	}
	group, err := connect(ctx, t.log, cfg.Kafka.Brokers, func() (sarama.ConsumerGroup, error) {
		return sarama.NewConsumerGroup(cfg.Kafka.Brokers, cfg.GroupID, sc)
	})
	if err != nil {
		dlq.Close()
		return nil, nil, err
	}
	return dlq, group, nil
}

// consume runs group sessions until ctx is done (the batches held are
// abandoned uncommitted) or the drain starts (they are stored and committed
// first, for at most drainTimeout).
func (t *Transfer) consume(ctx context.Context, topics []string, group sarama.ConsumerGroup, h *handler) {
	sessions, endSessions := context.WithCancel(ctx)
	defer endSessions()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.consumeSessions(sessions, topics, group, h)
	}()
	select {
	case <-ctx.Done():
	case <-h.drain.requested:
		t.log.Info("new Kafka settings: storing the batches in flight, then leaving the consumer group")
		timer := time.NewTimer(drainTimeout)
		defer timer.Stop()
		select {
		case <-h.drain.finished:
		case <-timer.C:
			t.log.Warn("batches still in flight after the drain timeout are left uncommitted; they are read again after the rejoin", "timeout", drainTimeout)
		case <-ctx.Done():
		}
	}
	endSessions()
	<-done
}

// consumeSessions joins one group session after another (a rebalance ends
// each) until ctx is done.
func (t *Transfer) consumeSessions(ctx context.Context, topics []string, group sarama.ConsumerGroup, h *handler) {
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := group.Consume(ctx, topics, h)
		if err == nil || ctx.Err() != nil {
			attempt = 0
			continue // a rebalance ended the session: join the next one
		}
		t.log.Warn("consumer group session failed; retrying", "error", err, "attempt", attempt)
		if backoff.Sleep(ctx, connectBackoff(attempt)) != nil {
			return
		}
	}
}

// drain ends a generation's claims once the batches they hold are stored.
type drain struct {
	requested chan struct{} // closed when the drain starts
	finished  chan struct{} // closed once it started and no claim runs

	mu       sync.Mutex
	active   int // claims running
	on, over bool
}

func newDrain() *drain {
	return &drain{requested: make(chan struct{}), finished: make(chan struct{})}
}

// start begins the drain; later calls do nothing.
func (d *drain) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.on {
		d.on = true
		close(d.requested)
		d.finishIfIdle()
	}
}

func (d *drain) started() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.on
}

// enter registers a claim; false once the drain started (it must not run).
func (d *drain) enter() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.on {
		return false
	}
	d.active++
	return true
}

// leave unregisters a claim that entered.
func (d *drain) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active--
	d.finishIfIdle()
}

func (d *drain) finishIfIdle() {
	if d.on && d.active == 0 && !d.over {
		d.over = true
		close(d.finished)
	}
}
