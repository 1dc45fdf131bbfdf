package agent

import (
	"context"
	"math/bits"
	"sync"

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
	// minArena is the smallest arena a batch starts with; arenas double
	// from there as the batch grows.
	minArena = 4 << 10
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
// batch costs a handful of allocations, not one per line.
type batchBuilder struct {
	mem      *batchMemory
	arena    []byte   // where the next event is encoded
	spent    [][]byte // the batch's earlier arenas
	msgs     []Message
	encoded  int   // bytes in the arenas
	reserved int64 // from mem, for the arenas' and msgs' capacity
	bytes    int   // sum of key and value sizes
	end      int64 // file offset after the last message
}

// room makes sure an event of up to n encoded bytes, in up to slots
// messages, fits in the batch; hint sizes the first arena (the bytes about
// to be cut). Memory is reserved from the cap as the batch grows, waiting
// for it only while the batch is empty. It reports false when the batch
// should be flushed first: it is full, or there is no memory to grow it now
// (the flush and its ack free some).
func (b *batchBuilder) room(ctx context.Context, n, slots, hint int) (bool, error) {
	if len(b.msgs) > 0 && (len(b.msgs)+slots > batchMaxLines || b.encoded+len(b.arena)+n > batchMaxBytes) {
		return false, nil
	}
	arenaCap := 0
	if len(b.arena)+n > cap(b.arena) {
		arenaCap = sizeClass(max(n, min(hint, batchMaxBytes), 2*cap(b.arena)))
	}
	msgsCap := cap(b.msgs)
	for len(b.msgs)+slots > msgsCap {
		msgsCap = max(64, 2*msgsCap)
	}
	grow := int64(arenaCap) + int64(msgsCap-cap(b.msgs))*messageMemory
	if grow == 0 {
		return true, nil
	}
	if len(b.msgs) > 0 {
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
		b.arena = getArena(arenaCap)
	}
	if msgsCap > cap(b.msgs) {
		b.msgs = append(make([]Message, 0, msgsCap), b.msgs...)
	}
	return true, nil
}

func (b *batchBuilder) add(m Message, end int64) {
	b.msgs = append(b.msgs, m)
	b.bytes += len(m.Key) + len(m.Value)
	b.end = end
}

// take hands the batch's contents over (to a Batch) and leaves the builder
// empty, holding nothing. release gives the memory back once nothing refers
// to the messages any more.
func (b *batchBuilder) take() (msgs []Message, bytes int, release func()) {
	msgs, bytes = b.msgs, b.bytes
	arenas := append(b.spent, b.arena)
	reserved, mem := b.reserved, b.mem
	release = func() {
		clear(msgs) // drop references into the arenas
		for _, a := range arenas {
			putArena(a)
		}
		mem.release(reserved)
	}
	*b = batchBuilder{mem: mem}
	return msgs, bytes, release
}

// discard gives back what an unsent batch holds (its harvester stops).
func (b *batchBuilder) discard() {
	_, _, release := b.take()
	release()
}

// Arenas are pooled by size class (powers of two from minArena): once Kafka
// acknowledged a batch nothing refers to its arena any more, and without
// reuse the agent would allocate and collect its whole throughput.
var arenaPools [bits.UintSize]sync.Pool

// sizeClass is the power of two from minArena up that holds n bytes.
func sizeClass(n int) int {
	if n <= minArena {
		return minArena
	}
	return 1 << bits.Len(uint(n-1))
}

func getArena(size int) []byte {
	if p, ok := arenaPools[bits.Len(uint(size))].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, size)
}

func putArena(a []byte) {
	if cap(a) < minArena || cap(a) != sizeClass(cap(a)) {
		return
	}
	a = a[:0]
	arenaPools[bits.Len(uint(cap(a)))].Put(&a)
}
