package agent

import (
	"context"
	"math/bits"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	batchMaxLines = 2048
	batchMaxBytes = 1 << 20
	// messageMemory is what one message costs besides its bytes in the
	// arena: the Message, and in the shipper sarama's ProducerMessage, its
	// two headers and the ack state (~420 B, rounded up).
	messageMemory = 512
)

// batchMemory caps the memory every file's batches hold together: events
// being encoded and batches sent but not yet acknowledged
// (limits.max_bytes_in_flight). A harvester reserves memory before it
// encodes into it, and a batch's reservation is returned once Kafka has
// acknowledged it or it was given up. When the cap is reached, harvesters
// stop reading: memory follows the work in flight, not the number of files.
type batchMemory struct {
	sem   *semaphore.Weighted
	max   int64
	gauge prometheus.Gauge
}

func newBatchMemory(max int64, gauge prometheus.Gauge) *batchMemory {
	return &batchMemory{sem: semaphore.NewWeighted(max), max: max, gauge: gauge}
}

// reserve blocks until n bytes are free, or ctx ends. n is clamped to the
// cap: one huge event may take all of it.
func (m *batchMemory) reserve(ctx context.Context, n int64) (int64, error) {
	n = min(n, m.max)
	if err := m.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	m.gauge.Add(float64(n))
	return n, nil
}

// tryReserve reserves n bytes if they are free now.
func (m *batchMemory) tryReserve(n int64) bool {
	if !m.sem.TryAcquire(n) {
		return false
	}
	m.gauge.Add(float64(n))
	return true
}

func (m *batchMemory) release(n int64) {
	m.sem.Release(n)
	m.gauge.Sub(float64(n))
}

// batchBuilder collects one file's encoded messages. It holds no memory while
// empty: an idle file costs no arena. Their bytes live in a few arenas per
// batch (a new one when the current is full; messages point into them), so a
// batch costs a handful of allocations, not one per line. A new batch is
// sized like the file's last one: a busy file gets one arena per batch, a
// quiet one a small one.
type batchBuilder struct {
	mem      *batchMemory
	arena    []byte   // where the next event is encoded
	spent    [][]byte // the batch's earlier arenas
	msgs     []Message
	encoded  int   // bytes in the spent arenas
	reserved int64 // from mem, for the arenas' and msgs' capacity
	bytes    int   // sum of key and value sizes
	end      int64 // file offset after the last message or skipped event
	skipped  bool  // events were skipped (filtered out) since the last take
	// firstRead is when the batch's first message was read.
	firstRead time.Time
	// lastBytes and lastMsgs are the size of the previous batch.
	lastBytes, lastMsgs int
}

// room makes sure an event of up to n encoded bytes, in up to slots
// messages, fits in the batch; hint sizes a first arena (the bytes about to
// be cut). Memory is reserved from the cap as the batch grows, waiting for
// it only while the batch is empty. It reports false when the batch should
// be flushed first: it is full, or there is no memory to grow it now (the
// flush and its ack free some).
func (b *batchBuilder) room(ctx context.Context, n, slots, hint int) (bool, error) {
	empty := len(b.msgs) == 0
	if !empty && (len(b.msgs)+slots > batchMaxLines || b.encoded+len(b.arena)+n > batchMaxBytes) {
		return false, nil
	}
	arenaCap := 0
	if len(b.arena)+n > cap(b.arena) {
		want := 2 * cap(b.arena)
		if empty {
			want = max(hint, b.lastBytes)
		}
		arenaCap = sizeClass(max(n, min(want, batchMaxBytes)))
	}
	msgsCap := 0
	if len(b.msgs)+slots > cap(b.msgs) {
		want := 2 * cap(b.msgs)
		if empty {
			want = b.lastMsgs
		}
		msgsCap = sizeClass(max(len(b.msgs)+slots, min(want, batchMaxLines)))
	}
	grow := int64(arenaCap) + int64(max(0, msgsCap-cap(b.msgs)))*messageMemory
	if grow == 0 {
		return true, nil
	}
	if !empty {
		if !b.mem.tryReserve(grow) {
			return false, nil
		}
		b.reserved += grow
	} else {
		got, err := b.mem.reserve(ctx, grow)
		if err != nil {
			return false, err
		}
		b.reserved += got
	}
	if arenaCap > 0 {
		if cap(b.arena) > 0 {
			b.spent = append(b.spent, b.arena)
		}
		b.encoded += len(b.arena)
		b.arena = arenas.get(arenaCap)
	}
	if msgsCap > 0 {
		grown := append(messageSlices.get(msgsCap), b.msgs...)
		messageSlices.put(b.msgs)
		b.msgs = grown
	}
	return true, nil
}

func (b *batchBuilder) add(m Message, end int64, readTime time.Time) {
	if len(b.msgs) == 0 {
		b.firstRead = readTime
	}
	b.msgs = append(b.msgs, m)
	b.bytes += len(m.Key) + len(m.Value)
	b.end = end
}

// skip moves the batch's end past an event that is not shipped (a filter
// dropped it): the batch's ack moves the file's offset past it too, and a
// batch of nothing but skipped events is acknowledged when it is flushed.
func (b *batchBuilder) skip(end int64) {
	b.end = end
	b.skipped = true
}

// take hands the batch's contents over (to a Batch) and leaves the builder
// empty, holding nothing. release gives the memory back once nothing refers
// to the messages any more.
func (b *batchBuilder) take() (msgs []Message, bytes int, release func()) {
	msgs, bytes = b.msgs, b.bytes
	spent := append(b.spent, b.arena)
	reserved, mem := b.reserved, b.mem
	release = func() {
		messageSlices.put(msgs)
		for _, a := range spent {
			arenas.put(a)
		}
		mem.release(reserved)
	}
	*b = batchBuilder{mem: mem, lastBytes: b.encoded + len(b.arena), lastMsgs: len(b.msgs)}
	return msgs, bytes, release
}

// discard gives back what an unsent batch holds (its harvester stops).
func (b *batchBuilder) discard() {
	_, _, release := b.take()
	release()
}

// Arenas and message slices are pooled by size class: once Kafka
// acknowledged a batch nothing refers to them any more, and without reuse the
// agent would allocate and collect its whole throughput.
var (
	arenas        classPool[byte]
	messageSlices = classPool[Message]{scrub: true}
)

// classPool pools slices by capacity, in powers of two from minClass.
type classPool[T any] struct {
	pools [bits.UintSize]sync.Pool
	// scrub: T holds references, cleared before the slice is pooled.
	scrub bool
}

// minClass is the smallest pooled capacity.
const minClass = 64

// sizeClass is the power of two from minClass up that holds n.
func sizeClass(n int) int {
	if n <= minClass {
		return minClass
	}
	return 1 << bits.Len(uint(n-1))
}

// get returns an empty slice with capacity size, a size class.
func (p *classPool[T]) get(size int) []T {
	if s, ok := p.pools[bits.Len(uint(size))].Get().(*[]T); ok {
		return (*s)[:0]
	}
	return make([]T, 0, size)
}

// put pools s if its capacity is a size class. What s[:len(s)] refers to is
// dropped first (the rest of it never held anything since it was cleared).
func (p *classPool[T]) put(s []T) {
	if c := cap(s); c < minClass || c != sizeClass(c) {
		return
	}
	if p.scrub {
		clear(s)
	}
	s = s[:0]
	p.pools[bits.Len(uint(cap(s)))].Put(&s)
}
