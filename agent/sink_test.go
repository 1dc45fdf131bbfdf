package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordingSink is the tailer tests' Sink: it keeps every message and acks
// each batch, at once or after a short random delay so acks arrive out of
// order. Envelopes are decoded lazily, once, when a test looks at them.
type recordingSink struct {
	mu       sync.Mutex
	raw      []Message
	decoded  []recordedEvent
	delayAck atomic.Bool
	holdAcks atomic.Bool // never acknowledge: Kafka has them, the agent never hears so
	pending  sync.WaitGroup
	maxBatch int
}

type recordedEvent struct {
	Topic   string
	Key     string
	ID      string
	Format  string
	Message string `json:"message"`
	Log     struct {
		File   struct{ Path string }
		Offset int64
		Flags  []string
	}
	Raw string
}

func (s *recordingSink) Send(ctx context.Context, b *Batch) error {
	s.mu.Lock()
	s.maxBatch = max(s.maxBatch, len(b.Messages))
	for _, m := range b.Messages { // copies: the batch's buffers are reused after the ack
		m.Key, m.Value, m.EventID = bytes.Clone(m.Key), bytes.Clone(m.Value), bytes.Clone(m.EventID)
		s.raw = append(s.raw, m)
	}
	s.mu.Unlock()
	if s.holdAcks.Load() {
		return nil
	}
	if !s.delayAck.Load() {
		b.Ack()
		b.Release()
		return nil
	}
	s.pending.Add(1)
	time.AfterFunc(time.Duration(rand.IntN(3))*time.Millisecond, func() { b.Ack(); b.Release(); s.pending.Done() })
	return nil
}

func (s *recordingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.raw)
}

func (s *recordingSink) snapshot() []recordedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.raw[len(s.decoded):] {
		ev := recordedEvent{Topic: m.Topic, Key: string(m.Key), ID: string(m.EventID), Format: m.Format, Raw: string(m.Value)}
		if m.Format == "envelope" {
			if err := json.Unmarshal(m.Value, &ev); err != nil {
				panic("envelope is not JSON: " + err.Error())
			}
		} else {
			ev.Message = string(m.Value)
		}
		s.decoded = append(s.decoded, ev)
	}
	return slices.Clone(s.decoded)
}

func (s *recordingSink) messages() []string {
	var out []string
	for _, e := range s.snapshot() {
		out = append(out, e.Message)
	}
	return out
}

func TestAckTrackerIsContiguous(t *testing.T) {
	var got []int64
	tr := newAckTracker(func(off int64) { got = append(got, off) })
	t0 := time.Unix(1000, 0)
	a, b, c := tr.track(10, t0), tr.track(20, t0.Add(time.Second)), tr.track(30, t0.Add(2*time.Second))
	c()
	b()
	if len(got) != 0 {
		t.Fatalf("watermark moved past an unacked batch: %v", got)
	}
	if read, ok := tr.oldestUnacked(); !ok || !read.Equal(t0) {
		t.Fatalf("oldest unacked read at %v, %v; want %v", read, ok, t0)
	}
	a()
	if _, ok := tr.oldestUnacked(); ok {
		t.Fatal("an unacked line after every ack")
	}
	if len(got) != 1 || got[0] != 30 {
		t.Fatalf("watermark = %v, want [30]", got)
	}
	if tr.outstanding() != 0 {
		t.Fatalf("outstanding = %d", tr.outstanding())
	}

	// The first batch acked, the third too, the second not: the watermark
	// stops at the end of the first.
	got = nil
	d, e, f := tr.track(40, t0), tr.track(50, t0.Add(time.Minute)), tr.track(60, t0)
	d()
	f()
	if !slices.Equal(got, []int64{40}) {
		t.Fatalf("watermark = %v, want [40]: 50 is not acked", got)
	}
	if read, _ := tr.oldestUnacked(); !read.Equal(t0.Add(time.Minute)) {
		t.Fatalf("oldest unacked read at %v, want the second batch's", read)
	}
	e()
	if !slices.Equal(got, []int64{40, 60}) {
		t.Fatalf("watermark = %v, want [40 60]", got)
	}
}
