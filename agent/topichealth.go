package agent

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eapache/go-resiliency/breaker"
	"github.com/prometheus/client_golang/prometheus"
)

// topicHealth knows which topics Kafka refuses or cannot take right now, and
// why: the status of every file shipping to such a topic shows it (a stuck
// topic must not look healthy), a gauge per topic is 1 while it lasts, and
// the log says when it starts, every minute while it lasts, and when it ends.
type topicHealth struct {
	log   *slog.Logger
	gauge *prometheus.GaugeVec // logagent_topic_send_failing{topic}

	failingTopics atomic.Int32 // len(failing), read without the lock on every ack
	mu            sync.Mutex
	failing       map[string]*topicError
}

type topicError struct {
	err      error
	since    time.Time
	reminded time.Time
	errors   int // since the last log line
}

// remindEvery is how often the log repeats that a topic still fails.
const remindEvery = time.Minute

func newTopicHealth(log *slog.Logger, gauge *prometheus.GaugeVec) *topicHealth {
	return &topicHealth{log: log, gauge: gauge, failing: map[string]*topicError{}}
}

// failed records that a send to topic failed with err.
func (t *topicHealth) failed(topic string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	e := t.failing[topic]
	if e == nil {
		e = &topicError{err: err, since: now, reminded: now}
		t.failing[topic] = e
		t.failingTopics.Store(int32(len(t.failing)))
		t.gauge.WithLabelValues(topic).Set(1)
		t.log.Warn("Kafka sends to a topic failing; retrying, lines wait in their files", "topic", topic, "error", err)
		return
	}
	e.errors++
	// sarama's circuit breaker says only that it gave up asking: keep the
	// error that made it open.
	if !errors.Is(err, breaker.ErrBreakerOpen) {
		e.err = err
	}
	if now.Sub(e.reminded) >= remindEvery {
		t.log.Warn("Kafka sends to a topic still failing", "topic", topic, "error", e.err,
			"for", now.Sub(e.since).Round(time.Second), "errors", e.errors)
		e.reminded, e.errors = now, 0
	}
}

// ok records that a send to topic succeeded. It is on the path of every ack,
// so it costs one atomic load while no topic fails.
func (t *topicHealth) ok(topic string) {
	if t.failingTopics.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.failing[topic]
	if e == nil {
		return
	}
	delete(t.failing, topic)
	t.failingTopics.Store(int32(len(t.failing)))
	t.gauge.WithLabelValues(topic).Set(0)
	t.log.Info("Kafka sends to a topic work again", "topic", topic, "failed_for", time.Since(e.since).Round(time.Millisecond))
}

// current returns topic's error and since when, if its sends fail now.
func (t *topicHealth) current(topic string) (err error, since time.Time, failing bool) {
	if t.failingTopics.Load() == 0 {
		return nil, time.Time{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.failing[topic]; e != nil {
		return e.err, e.since, true
	}
	return nil, time.Time{}, false
}
