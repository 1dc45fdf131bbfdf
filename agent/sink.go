package agent

import (
	"context"
	"sync"
	"time"
)

// Message is one Kafka record ready to send.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	EventID []byte // hex, also the event.id header
	Format  string // envelope | raw, also the format header
	// ReadTime is when the line was read, in Unix milliseconds: the
	// event.created header.
	ReadTime int64
}

// Batch is a run of consecutive messages from one file. Ack is called once,
// after every message of the batch was acknowledged by Kafka; until then the
// file's registry offset does not pass the batch. Release is called once,
// after Ack or when the batch is given up (never sent, or not all of it),
// when nothing refers to the messages any more: their memory is reused.
type Batch struct {
	Messages []Message
	Bytes    int // sum of key and value sizes
	Ack      func()
	Release  func()
}

// Sink takes batches for delivery. Send may block (the producer is busy or
// not connected yet) and returns early only with ctx's error; either way the
// batch is the sink's, to release. The shipper is the real Sink; tests of
// the tailer alone use a recording one.
type Sink interface {
	Send(ctx context.Context, b *Batch) error
}

// ackTracker turns out-of-order batch acks into a contiguous watermark for
// one file: the offset moves only when every earlier batch is acked too.
type ackTracker struct {
	mu      sync.Mutex
	pending []*pendingBatch
	advance func(offset int64)
}

type pendingBatch struct {
	end  int64
	read time.Time // when its first line was read
	done bool
}

func newAckTracker(advance func(offset int64)) *ackTracker {
	return &ackTracker{advance: advance}
}

// track registers a batch that ends at end (the offset after its last byte),
// whose first line was read at read, and returns its ack function.
func (t *ackTracker) track(end int64, read time.Time) func() {
	p := &pendingBatch{end: end, read: read}
	t.mu.Lock()
	t.pending = append(t.pending, p)
	t.mu.Unlock()
	return func() { t.ack(p) }
}

func (t *ackTracker) ack(p *pendingBatch) {
	t.mu.Lock()
	p.done = true
	var watermark int64 = -1
	i := 0
	for ; i < len(t.pending) && t.pending[i].done; i++ {
		watermark = t.pending[i].end
	}
	if i > 0 {
		clear(t.pending[:i])
		t.pending = t.pending[i:]
	}
	t.mu.Unlock()
	if watermark >= 0 {
		t.advance(watermark)
	}
}

// oldestUnacked is when the oldest line sent but not acknowledged was read;
// ok is false when nothing waits.
func (t *ackTracker) oldestUnacked() (read time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.pending {
		if !p.done && !p.read.IsZero() {
			return p.read, true
		}
	}
	return time.Time{}, false
}

// outstanding reports how many batches wait for acks.
func (t *ackTracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}
