package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
)

// Tests of the Shipper against a real Kafka-protocol broker (kfake), through
// what the harvesters use: NewShipper, Send with Batch.Ack, Close.

// testShipper is a Shipper with the agent's default producer settings
// (acks=all, idempotent) on k, closed when the test ends.
func testShipper(t *testing.T, k *testenv.Kafka) (*Shipper, *Metrics) {
	t.Helper()
	cfg := conf.Agent{Kafka: conf.Kafka{Brokers: k.Brokers()}, Etcd: conf.Etcd{Endpoints: []string{"127.0.0.1:1"}}}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	sc, err := cfg.Kafka.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	s := NewShipper(cfg.Kafka.Brokers, sc, m, testLogger(t))
	t.Cleanup(func() { closeShipper(t, s, 10*time.Second) })
	return s, m
}

// closeShipper closes s, waiting up to wait for its acks; closing twice
// is harmless.
func closeShipper(t *testing.T, s *Shipper, wait time.Duration) error {
	t.Helper()
	select {
	case <-s.stop:
		return nil // closed already
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	closeCtx, cancelClose := context.WithTimeout(context.Background(), wait+5*time.Second)
	defer cancelClose()
	return s.Close(ctx, closeCtx)
}

// ackedBatch is a batch of one file's lines that counts its acks.
type ackedBatch struct {
	Batch
	acks, releases atomic.Int32
}

// newBatch makes n messages "<prefix>-i" of size bytes each (at least the
// text) for topic, one key, with ids "<prefix>-i".
func newBatch(topic, prefix string, n, size int) *ackedBatch {
	b := &ackedBatch{}
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		v += strings.Repeat("x", max(0, size-len(v)))
		b.Messages = append(b.Messages, Message{Topic: topic, Key: []byte("host/var/log/" + prefix), Value: []byte(v),
			EventID: []byte(fmt.Sprintf("%s-%d", prefix, i)), Format: collect.FormatRaw})
		b.Bytes += len(v) + len("host/var/log/") + len(prefix)
	}
	b.Ack = func() { b.acks.Add(1) }
	b.Release = func() { b.releases.Add(1) }
	return b
}

func (b *ackedBatch) waitAcked(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "the batch's ack and release", func() bool { return b.acks.Load() > 0 && b.releases.Load() > 0 })
	if n, r := b.acks.Load(), b.releases.Load(); n != 1 || r != 1 {
		t.Fatalf("batch acked %d and released %d times, want once each", n, r)
	}
}

func TestShipperAcksOnlyWhatKafkaAcknowledged(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Topics("web_log"))
	s, m := testShipper(t, k)

	first := newBatch("web_log", "first", 100, 0)
	if err := s.Send(t.Context(), &first.Batch); err != nil {
		t.Fatal(err)
	}
	first.waitAcked(t)

	// Held by the broker: sent, not acknowledged, so not acked.
	hold := k.HoldProduce(t, testenv.Carries("web_log", 1))
	held := newBatch("web_log", "held", 10, 0)
	if err := s.Send(t.Context(), &held.Batch); err != nil {
		t.Fatal(err)
	}
	hold.Wait(t, 30*time.Second)
	if n := held.acks.Load(); n != 0 {
		t.Fatalf("batch acked while Kafka holds its messages unanswered")
	}
	hold.Release("web_log")
	held.waitAcked(t)

	recs := k.ReadAll(t, "web_log")
	if len(recs) != 110 {
		t.Fatalf("%d records in Kafka, want 110", len(recs))
	}
	for _, r := range recs {
		if r.Headers["event.id"] != string(bytes.TrimRight(r.Value, "x")) || r.Headers["format"] != collect.FormatRaw {
			t.Fatalf("record %s: headers %v", r.Value, r.Headers)
		}
	}
	if got := testutilCounter(m.MessagesAcked); got != 110 {
		t.Errorf("messages_acked_total = %v, want 110", got)
	}
}

// A produce the broker keeps failing comes back on the producer's Errors()
// once sarama's own retries are spent; the shipper sends it again until it
// is stored, and only then acks.
func TestShipperResendsAfterBrokerErrors(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Topics("web_log"))
	s, m := testShipper(t, k)
	faults := k.Fault(t, kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "web_log", Err: kerr.NotEnoughReplicas, Count: 8})

	b := newBatch("web_log", "retried", 20, 0)
	if err := s.Send(t.Context(), &b.Batch); err != nil {
		t.Fatal(err)
	}
	b.waitAcked(t)
	if faults.Hits() != 8 {
		t.Errorf("%d produce requests failed, want all 8 faults used", faults.Hits())
	}
	if testutilCounter(m.MessagesRetried) == 0 || testutilCounter(m.SendErrors.WithLabelValues("retryable")) == 0 {
		t.Errorf("retried %v, retryable errors %v: want both counted", testutilCounter(m.MessagesRetried), testutilCounter(m.SendErrors.WithLabelValues("retryable")))
	}
	if n := k.Count(t, "web_log"); n != 20 {
		t.Errorf("%d records for 20 messages", n)
	}
}

// A batch cut short by its context (the agent stopping while the producer
// is busy) is never acked, even when what was handed over gets stored; it is
// released (its memory goes back to the cap) once nothing of it is in flight.
func TestShipperSendCancelledMidBatchIsNeverAcked(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Topics("web_log"))
	s, _ := testShipper(t, k)
	hold := k.HoldProduce(t, testenv.Carries("web_log", 1))
	first := newBatch("web_log", "first", 1, 0)
	if err := s.Send(t.Context(), &first.Batch); err != nil {
		t.Fatal(err)
	}
	hold.Wait(t, 30*time.Second)

	// 3 MiB for one partition while a request is unanswered: more than the
	// producer takes in, so Send blocks part way.
	big := newBatch("web_log", "big", 3000, 1024)
	ctx, cancel := context.WithCancel(t.Context())
	sent := make(chan error, 1)
	go func() { sent <- s.Send(ctx, &big.Batch) }()
	waitFor(t, 30*time.Second, "part of the big batch handed over", func() bool { return s.outstanding.Load() > 1 })
	cancel()
	if err := <-sent; err == nil {
		t.Fatal("Send returned nil for a batch it could not hand over before its context ended")
	}

	hold.Release("web_log")
	// The partition's acks arrive in order: once a later batch is acked,
	// every message of big that was sent has been answered.
	after := newBatch("web_log", "after", 1, 0)
	if err := s.Send(t.Context(), &after.Batch); err != nil {
		t.Fatal(err)
	}
	after.waitAcked(t)
	first.waitAcked(t)
	if n := big.acks.Load(); n != 0 {
		t.Fatalf("a batch cut short was acked %d times: the registry would skip its unsent lines", n)
	}
	waitFor(t, 30*time.Second, "the cut-short batch released", func() bool { return big.releases.Load() == 1 })
}

// A message the broker refuses for good (too large) is not dropped: it is
// retried, counted as unhealable, and never acked; Close gives up on it with
// an error instead of hanging.
func TestShipperRetriesUnhealableErrorsLoudly(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Topics("web_log"),
		testenv.KafkaFakeOptions(kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4096"})))
	s, m := testShipper(t, k)
	huge := newBatch("web_log", "huge", 1, 0)
	noise := make([]byte, 32<<10)
	_, _ = rand.Read(noise)
	huge.Messages[0].Value = []byte(hex.EncodeToString(noise)) // 64 KiB the producer cannot compress below 4 KiB
	huge.Bytes += len(huge.Messages[0].Value)
	if err := s.Send(t.Context(), &huge.Batch); err != nil {
		t.Fatal(err)
	}
	unhealable := m.SendErrors.WithLabelValues("unhealable")
	waitFor(t, 30*time.Second, "two unhealable errors", func() bool { return testutilCounter(unhealable) >= 2 })
	if testutilCounter(m.MessagesRetried) == 0 {
		t.Error("the refused message was not sent again")
	}
	if huge.acks.Load() != 0 {
		t.Fatal("a message Kafka refused was acked")
	}
	if err := closeShipper(t, s, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "1 Kafka acks") {
		t.Fatalf("Close = %v, want it to give up on the one unacknowledged message", err)
	}
}

// TestSendSlabFollowsTheBatch: the sarama messages of a batch are sized to
// it (by size class), not to a full batch: a thousand files sending 100
// lines each once held 2,048-message slabs, 600 KiB each, outside the batch
// memory cap.
func TestSendSlabFollowsTheBatch(t *testing.T) {
	for _, n := range []int{1, 100, 129, batchMaxLines} {
		s := getSendSlab(n)
		if len(s.msgs) != n || len(s.states) != n || len(s.values) != n || len(s.headers) != headersPerMessage*n || cap(s.created) != createdWidth*cap(s.msgs) {
			t.Fatalf("slab for %d messages: lengths %d %d %d %d", n, len(s.msgs), len(s.states), len(s.values), len(s.headers))
		}
		if c := cap(s.msgs); c != sizeClass(n) || cap(s.headers) != headersPerMessage*c {
			t.Errorf("slab for %d messages holds %d (headers %d), want %d", n, c, cap(s.headers), sizeClass(n))
		}
		s.recycle()
	}
}

// TestShipperLeavesRetryPacingToItself: sarama's own retry sleep, once per
// failed message, kept its circuit breaker reopening while the brokers were
// down and delayed the recovery by up to 10 s (agentbench -outage); the
// probe gives up within its interval.
func TestShipperLeavesRetryPacingToItself(t *testing.T) {
	cfg := sarama.NewConfig()
	s := NewShipper([]string{"127.0.0.1:1"}, cfg, NewMetrics(prometheus.NewRegistry()), testLogger(t))
	defer s.Close(context.Background(), context.Background()) // never connected: returns at once
	if cfg.Producer.Retry.Backoff != 0 {
		t.Errorf("sarama retry backoff %v, want 0", cfg.Producer.Retry.Backoff)
	}
	if n := s.probeCfg.Net; n.DialTimeout > probeInterval || n.ReadTimeout > probeInterval {
		t.Errorf("probe timeouts %v/%v, want at most %v", n.DialTimeout, n.ReadTimeout, probeInterval)
	}
}
