package agent

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// readBufferSize is one read; the buffer grows only for lines longer than
// this, and goes back to a pool while the file is idle.
const readBufferSize = 16 << 10

var readBuffers = sync.Pool{New: func() any { return new([readBufferSize]byte) }}

// readSlots caps how many files hold a read buffer at once. Without it a
// thousand files with a backlog each read 16 KiB and then hold it while
// they wait for batch memory: 16 MiB of buffers outside any cap. A file asks
// for a slot only with an empty batch (it holds no batch memory), and every
// holder either ships, waits for batch memory the acknowledgements give back,
// or goes idle and gives its slot up, so waiting for one cannot deadlock.
type readSlots struct {
	sem *semaphore.Weighted
}

// minReadSlots keeps a small max_bytes_in_flight from serialising reading.
const minReadSlots = 16

// newReadSlots gives read buffers a quarter of the batch memory cap.
func newReadSlots(maxBytesInFlight int64) *readSlots {
	return &readSlots{sem: semaphore.NewWeighted(max(minReadSlots, maxBytesInFlight/(4*readBufferSize)))}
}

// take waits for a slot, counted in waiting meanwhile; a nil readSlots
// (unit tests) has no limit.
func (s *readSlots) take(ctx context.Context, waiting prometheus.Gauge) error {
	if s == nil || s.sem.TryAcquire(1) {
		return nil
	}
	waiting.Inc()
	defer waiting.Dec()
	return s.sem.Acquire(ctx, 1)
}

func (s *readSlots) give() {
	if s != nil {
		s.sem.Release(1)
	}
}

// takeBuffer gives the harvester a read buffer before it reads, waiting for
// a slot if it has none. What an idle file kept of a partial line or of an
// event being assembled moves into the new buffer.
func (h *harvester) takeBuffer(ctx context.Context) error {
	if h.hasSlot {
		return nil
	}
	if err := h.env.readers.take(ctx, h.env.metrics.FilesWaitingToRead); err != nil {
		return err
	}
	h.hasSlot = true
	buf := readBuffers.Get().(*[readBufferSize]byte)[:]
	h.w = copy(buf, h.buf[h.r:h.w])
	h.scan -= h.r
	h.r = 0
	h.setBuf(buf)
	return nil
}

// setBuf replaces the read buffer, giving a pooled one back, and the slot
// with it when the new one is not a read buffer (nil, or the few bytes an
// idle file keeps).
func (h *harvester) setBuf(buf []byte) {
	h.env.metrics.ReadBufferBytes.Add(float64(len(buf) - len(h.buf)))
	if len(h.buf) == readBufferSize {
		readBuffers.Put((*[readBufferSize]byte)(h.buf))
	}
	h.buf = buf
	if h.hasSlot && len(buf) < readBufferSize {
		h.env.readers.give()
		h.hasSlot = false
	}
}

// idle gives the read buffer and its slot back while the file waits for
// more: an idle file holds no buffer. A partial line or an event being
// assembled is kept in a slice of its own size, unless it fills more than
// half a buffer (a long line: it keeps the buffer).
func (h *harvester) idle() {
	switch {
	case !h.hasSlot:
	case h.r == h.w && h.pending == 0:
		h.setBuf(nil)
		h.r, h.w = 0, 0
	case h.w-h.r <= readBufferSize/2:
		kept := append([]byte(nil), h.buf[h.r:h.w]...)
		h.scan -= h.r
		h.w -= h.r
		h.r = 0
		h.setBuf(kept)
	}
}
