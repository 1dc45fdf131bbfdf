package testenv

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProduceHold is one produce request the broker received and holds: nothing
// of it is written and no answer goes back until Release. A producer killed
// meanwhile dies with messages sent but not acknowledged, which a broker that
// answers in microseconds never lets a test see.
type ProduceHold struct {
	held     chan struct{} // closed when a request is held
	released chan struct{} // closed by Release

	mu      sync.Mutex
	req     *kmsg.ProduceRequest
	records map[string]int // per topic, in the held request
	keep    []string       // topics Release lets the broker write
}

// HoldProduce holds the first produce request for which match returns true
// (every request when match is nil); requests before it, and all after it,
// are handled normally. The hold ends by Release or when the cluster closes.
// kfake answers one connection's requests in order, so a client whose next
// request shares the connection waits too: for an idempotent sarama
// producer (one request in flight per broker) that is the point.
func (k *Kafka) HoldProduce(t testing.TB, match func(*kmsg.ProduceRequest) bool) *ProduceHold {
	t.Helper()
	c := k.runningCluster(t)
	h := &ProduceHold{held: make(chan struct{}), released: make(chan struct{})}
	var once sync.Once
	c.ControlKey(kmsg.Produce.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ProduceRequest)
		mine := false
		if match == nil || match(req) {
			once.Do(func() { mine = true })
		}
		if !mine {
			return nil, nil, false
		}
		h.hold(req)
		c.SleepControl(func() { <-h.released })
		return h.answer(req)
	})
	t.Cleanup(func() { h.Release() })
	return h
}

func (h *ProduceHold) hold(req *kmsg.ProduceRequest) {
	h.mu.Lock()
	h.req, h.records = req, recordsByTopic(req)
	h.mu.Unlock()
	close(h.held)
}

// answer lets the broker write the kept topics of the held request (its
// answer goes to whoever still listens); a request with nothing kept closes
// the connection unwritten.
func (h *ProduceHold) answer(req *kmsg.ProduceRequest) (kmsg.Response, error, bool) {
	h.mu.Lock()
	keep := h.keep
	h.mu.Unlock()
	req.Topics = slices.DeleteFunc(req.Topics, func(t kmsg.ProduceRequestTopic) bool { return !slices.Contains(keep, t.Topic) })
	if len(req.Topics) == 0 {
		return nil, errors.New("testenv: held produce request dropped"), true
	}
	return nil, nil, false
}

// Fault makes the broker fail the requests the faults select (see
// kfake.Fault: by request key, topic, count), e.g. a produce answered with
// NOT_ENOUGH_REPLICAS five times. The handle removes or counts them.
func (k *Kafka) Fault(t testing.TB, faults ...kfake.Fault) *kfake.FaultHandle {
	t.Helper()
	return k.runningCluster(t).Fault(faults...)
}

func (k *Kafka) runningCluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cluster == nil {
		t.Fatal("testenv: kafka is stopped")
	}
	return k.cluster
}

// Wait fails the test unless a request is held within timeout.
func (h *ProduceHold) Wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-h.held:
	case <-time.After(timeout):
		t.Fatalf("testenv: no produce request held within %v", timeout)
	}
}

// Records returns how many records of topic the held request carries (0
// before a request is held).
func (h *ProduceHold) Records(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.records[topic]
}

// Release ends the hold. The broker writes the held request's records of the
// topics named in write, as if only their answer were lost; the rest is never
// written, as if the broker had crashed first. Only the first call counts.
func (h *ProduceHold) Release(write ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.released:
	default:
		h.keep = slices.Clone(write)
		close(h.released)
	}
}

// Carries matches a produce request with at least n records of topic.
func Carries(topic string, n int) func(*kmsg.ProduceRequest) bool {
	return func(req *kmsg.ProduceRequest) bool { return recordsByTopic(req)[topic] >= n }
}

// recordsByTopic counts the records of a produce request per topic, from
// the record batch headers (compressed batches need no decompression).
func recordsByTopic(req *kmsg.ProduceRequest) map[string]int {
	out := map[string]int{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			out[t.Topic] += countRecords(p.Records)
		}
	}
	return out
}

// countRecords sums NumRecords over the concatenated record batches of one
// partition; an undecodable tail counts nothing.
func countRecords(b []byte) int {
	n := 0
	for len(b) >= 12 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			return n
		}
		n += int(rb.NumRecords)
		size := 12 + int(rb.Length) // FirstOffset and Length precede what Length counts
		if size > len(b) {
			return n
		}
		b = b[size:]
	}
	return n
}
