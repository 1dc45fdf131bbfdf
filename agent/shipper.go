package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/wire"
)

// Shipper is the Sink that sends batches through one sarama AsyncProducer.
// Every message returned on Errors() is re-sent with backoff until it is
// acknowledged or the shipper closes; none is dropped. What it holds is
// capped upstream (batchMemory): when Kafka is slow or down, acks stop, the
// memory of unacknowledged batches is not given back, and the tailers stop
// reading. The producer is created in the background, so an agent started
// while Kafka is unreachable runs (and waits in Send).
type Shipper struct {
	metrics *Metrics
	log     *slog.Logger

	// producer is set before ready is closed, and replaced after an outage
	// (renew) under prodMu's write lock: whoever sends to its Input holds
	// the read lock, because a retired producer closes its Input. gen
	// counts the replacements, so that a retired producer's errors are told
	// apart without the lock.
	prodMu   sync.RWMutex
	producer sarama.AsyncProducer
	gen      atomic.Int64
	cfg      *sarama.Config
	ready    chan struct{}

	brokers []string
	// probeCfg is the producer's config (TLS, SASL), for probing brokers.
	probeCfg *sarama.Config
	health   *topicHealth
	// Messages Kafka returned wait here to be sent again: in retryQ once
	// their backoff passed, in parked while the brokers are unreachable (a
	// prober lets them go once one answers). retryMu guards the three.
	retryMu   sync.Mutex
	retryCond *sync.Cond
	retryQ    []*sarama.ProducerMessage
	parked    []*sarama.ProducerMessage
	closed    bool
	// down is set by a connection error and cleared when a broker answers
	// the prober.
	down atomic.Bool

	outstanding atomic.Int64   // messages sent and not yet acknowledged
	results     sync.WaitGroup // readSuccesses and readErrors
	feeders     sync.WaitGroup // connect, resend and probe: they write to Input() or retryQ
	stop        chan struct{}
	// lastLoud rate-limits readErrors' log of unhealable errors.
	lastLoud time.Time
}

// messageState travels in ProducerMessage.Metadata.
type messageState struct {
	batch    *batchState
	attempts int
}

type batchState struct {
	remaining atomic.Int64
	aborted   atomic.Bool // part of the batch was never sent: no ack
	messages  int
	ack       func()
	release   func()
	slab      *sendSlab
}

// sendSlab holds a batch's sarama messages and what they point to, allocated
// together (sarama takes pointers) and reused once the batch is acked.
// Reuse is safe: sarama (v1.61) drops every reference to a message and its
// bytes before returning it on Successes().
type sendSlab struct {
	msgs    []sarama.ProducerMessage
	states  []messageState
	headers []sarama.RecordHeader // headersPerMessage each
	values  []sarama.ByteEncoder
	created []byte // createdWidth each: the event.created headers' values
}

const (
	headersPerMessage = 3
	// createdWidth holds a Unix millisecond time in decimal until the year
	// 2286.
	createdWidth = 13
)

// sendSlabs pools slabs by size class (the number of messages they hold,
// as classPool does for slices): a 100-line batch from one of a thousand
// files must not hold the room of a full one.
var sendSlabs [bits.UintSize]sync.Pool

func getSendSlab(n int) *sendSlab {
	c := sizeClass(n)
	s, _ := sendSlabs[bits.Len(uint(c))].Get().(*sendSlab)
	if s == nil {
		s = &sendSlab{
			msgs: make([]sarama.ProducerMessage, c), states: make([]messageState, c),
			headers: make([]sarama.RecordHeader, headersPerMessage*c), values: make([]sarama.ByteEncoder, c),
			created: make([]byte, createdWidth*c),
		}
	}
	s.msgs, s.states, s.headers, s.values = s.msgs[:n], s.states[:n], s.headers[:headersPerMessage*n], s.values[:n]
	return s
}

// recycle drops the slab's references to the batch's bytes and pools it.
func (s *sendSlab) recycle() {
	clear(s.msgs)
	clear(s.states)
	clear(s.headers)
	clear(s.values)
	sendSlabs[bits.Len(uint(cap(s.msgs)))].Put(s)
}

// NewShipper starts connecting a producer from cfg (which it adjusts:
// successes and errors returned, hash partitioner) in the background.
func NewShipper(brokers []string, cfg *sarama.Config, m *Metrics, log *slog.Logger) *Shipper {
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	// No sleep between sarama's own retries: it sleeps once per failed
	// message, so while the brokers are down it fed its queue back to us one
	// message per 100 ms, asking for a leader each time, which kept its
	// per-partition circuit breaker opening again for 10 s at a time: the
	// agent resumed up to 10 s after the brokers returned (6.6-7.0 s in
	// agentbench -outage 10s, 0.56 s without). The agent's own backoff
	// (retryBackoff) paces re-sends instead.
	cfg.Producer.Retry.Backoff = 0
	s := &Shipper{
		metrics: m, log: log, ready: make(chan struct{}), stop: make(chan struct{}),
		brokers: brokers, cfg: cfg, probeCfg: probeConfig(cfg), health: newTopicHealth(log, m.TopicSendFailing),
	}
	s.retryCond = sync.NewCond(&s.retryMu)
	s.feeders.Add(1)
	go s.connect(brokers, cfg)
	return s
}

// probeConfig is cfg with timeouts short enough for a probe every
// probeInterval.
func probeConfig(cfg *sarama.Config) *sarama.Config {
	probe := *cfg
	probe.Net.DialTimeout, probe.Net.ReadTimeout, probe.Net.WriteTimeout = probeInterval, probeInterval, probeInterval
	return &probe
}

// connect creates the producer, retrying while the brokers are unreachable,
// then starts the goroutines that read its results.
func (s *Shipper) connect(brokers []string, cfg *sarama.Config) {
	defer s.feeders.Done()
	for attempt := 1; ; attempt++ {
		p, err := sarama.NewAsyncProducer(brokers, cfg)
		if err == nil {
			s.producer = p
			s.readResults(p, 0)
			s.feeders.Add(2)
			go s.resend()
			go s.probe()
			close(s.ready)
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("Kafka not reachable yet; retrying", "brokers", brokers, "attempt", attempt, "error", err)
		}
		select {
		case <-s.stop:
			return
		case <-time.After(retryBackoff(attempt)):
		}
	}
}

var (
	formatEnvelope = []byte(collect.FormatEnvelope)
	formatRaw      = []byte(collect.FormatRaw)
	headerEventID  = []byte(wire.HeaderEventID)
	headerFormat   = []byte(wire.HeaderFormat)
	headerCreated  = []byte(wire.HeaderCreated)
)

// Send implements Sink.
func (s *Shipper) Send(ctx context.Context, b *Batch) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		b.Release()
		return ctx.Err()
	}
	if err := s.waitUntilUp(ctx); err != nil {
		b.Release()
		return err
	}
	slab := getSendSlab(len(b.Messages))
	msgs, states, headers, values, created := slab.msgs, slab.states, slab.headers, slab.values, slab.created
	st := &batchState{messages: len(b.Messages), ack: b.Ack, release: b.Release, slab: slab}
	st.remaining.Store(int64(len(b.Messages)))
	var key sarama.Encoder
	var lastKey []byte
	for i := range b.Messages {
		m := &b.Messages[i]
		format := formatEnvelope
		if m.Format == collect.FormatRaw {
			format = formatRaw
		}
		if key == nil || !sameSlice(m.Key, lastKey) { // a batch is one file: one key
			key, lastKey = sarama.ByteEncoder(m.Key), m.Key
		}
		h := headers[headersPerMessage*i : headersPerMessage*(i+1) : headersPerMessage*(i+1)]
		h[0] = sarama.RecordHeader{Key: headerEventID, Value: m.EventID}
		h[1] = sarama.RecordHeader{Key: headerFormat, Value: format}
		h[2] = sarama.RecordHeader{Key: headerCreated, Value: strconv.AppendInt(created[createdWidth*i:createdWidth*i:createdWidth*(i+1)], m.ReadTime, 10)}
		states[i] = messageState{batch: st}
		values[i] = m.Value
		msgs[i] = sarama.ProducerMessage{Topic: m.Topic, Key: key, Value: &values[i], Headers: h, Metadata: &states[i]}
	}
	s.outstanding.Add(int64(len(msgs)))
	return s.feed(ctx, msgs, st)
}

// feed hands a batch's messages to the producer, or what ctx leaves of them.
func (s *Shipper) feed(ctx context.Context, msgs []sarama.ProducerMessage, st *batchState) error {
	s.prodMu.RLock()
	defer s.prodMu.RUnlock()
	in := s.producer.Input()
	for i := range msgs {
		select {
		case in <- &msgs[i]:
			continue
		default: // the producer is busy: wait, but not past ctx
		}
		select {
		case in <- &msgs[i]:
		case <-ctx.Done():
			// The rest is never sent: no ack, so the registry stays before the
			// batch and its lines are read again. The last success of what was
			// sent (or this) gives the bytes back to the cap.
			unsent := int64(len(msgs) - i)
			s.outstanding.Add(-unsent)
			st.aborted.Store(true)
			if st.remaining.Add(-unsent) == 0 {
				s.finish(st)
			}
			s.metrics.MessagesSent.Add(float64(i))
			return ctx.Err()
		}
	}
	s.metrics.MessagesSent.Add(float64(len(msgs)))
	return nil
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// finish runs once per batch, when no message of it is in flight any more:
// nothing refers to its messages, slab or bytes now.
func (s *Shipper) finish(b *batchState) {
	if !b.aborted.Load() { // part of it was never sent: no ack
		s.metrics.MessagesAcked.Add(float64(b.messages))
		b.ack()
	}
	b.slab.recycle()
	b.release()
}

// readResults starts reading the successes and errors of p, the producer
// of generation gen.
func (s *Shipper) readResults(p sarama.AsyncProducer, gen int64) {
	s.results.Add(2)
	go s.readSuccesses(p)
	go s.readErrors(p, gen)
}

func (s *Shipper) readSuccesses(p sarama.AsyncProducer) {
	defer s.results.Done()
	for msg := range p.Successes() {
		b := msg.Metadata.(*messageState).batch
		s.outstanding.Add(-1)
		s.health.ok(msg.Topic)
		// Bookkeeping per batch, not per message: it is the hot path.
		if b.remaining.Add(-1) == 0 {
			s.finish(b)
		}
	}
}

// TopicError returns the Kafka error that sends to topic fail with now, and
// since when; ok is false while they work.
func (s *Shipper) TopicError(topic string) (err error, since time.Time, ok bool) {
	return s.health.current(topic)
}

// Close waits until ctx's deadline for every message sent so far to be
// acknowledged, then closes the producer, giving it until closeCtx's deadline.
// Messages still unacknowledged are not lost: the registry never passed them.
func (s *Shipper) Close(ctx, closeCtx context.Context) error {
	var err error
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for err == nil && s.outstanding.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			err = fmt.Errorf("gave up waiting for %d Kafka acks: %w", s.outstanding.Load(), ctx.Err())
		}
	}
	close(s.stop)
	s.retryMu.Lock()
	s.closed = true
	s.retryMu.Unlock()
	s.retryCond.Broadcast()
	s.feeders.Wait() // nothing writes to Input() any more
	select {
	case <-s.ready:
	default:
		return err // never connected
	}
	s.producer.AsyncClose()
	closed := make(chan struct{})
	go func() { s.results.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-closeCtx.Done():
		// sarama retries a dead broker per message; do not let that hold up
		// the exit. Its goroutines die with the process.
		err = errors.Join(err, fmt.Errorf("Kafka producer did not close in time: %w", closeCtx.Err()))
	}
	return err
}
