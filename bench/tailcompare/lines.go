package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// lineLen is the length of every written line without its newline; with
// the newline a line is 100 bytes.
const lineLen = 99

// plan numbers every line of a run in write order and remembers which file
// generation it went to and whether it was written after its file had been
// renamed away (a "late" line).
type plan struct {
	rotations, perFile, late int
	total                    int
	gen                      []uint16
	isLate                   []bool
}

func newPlan(rotations, perFile, late int) *plan {
	p := &plan{rotations: rotations, perFile: perFile, late: late}
	p.total = (rotations+1)*perFile + rotations*late
	p.gen = make([]uint16, p.total)
	p.isLate = make([]bool, p.total)
	n := 0
	for g := 0; g <= rotations; g++ {
		for i := 0; i < perFile; i++ {
			p.gen[n] = uint16(g)
			n++
		}
		if g == rotations {
			break
		}
		for i := 0; i < late; i++ {
			p.gen[n], p.isLate[n] = uint16(g), true
			n++
		}
	}
	return p
}

// appendLine appends line n (without newline): a zero-padded number, its
// file generation, the late marker, and a filler that depends on n, so that a
// torn or spliced line never passes for a whole one.
func (p *plan) appendLine(dst []byte, n int) []byte {
	start := len(dst)
	dst = fmt.Appendf(dst, "%09d gen=%03d late=%d tailcompare ", n, p.gen[n], b2i(p.isLate[n]))
	for i := 0; len(dst)-start < lineLen; i++ {
		dst = append(dst, byte('a'+(n+i)%26))
	}
	return dst
}

// classify returns the line number of text, or -1 when text is not exactly a
// line this run wrote.
func (p *plan) classify(text string, scratch []byte) (int, []byte) {
	if len(text) != lineLen || len(text) < 9 {
		return -1, scratch
	}
	n, err := strconv.Atoi(text[:9])
	if err != nil || n < 0 || n >= p.total {
		return -1, scratch
	}
	scratch = p.appendLine(scratch[:0], n)
	if string(scratch) != text {
		return -1, scratch
	}
	return n, scratch
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeResult is what the writer did.
type writeResult struct {
	lines    int
	duration time.Duration
	err      error
}

// runWriter writes the plan to path at rate lines/s (0: as fast as it can):
// perFile lines, then rename path to path.<k>, late more lines through the
// old descriptor (as a daemon does until it reopens its log), then a new
// file at path; after the last rotation one more generation of perFile lines.
func runWriter(p *plan, path string, rate float64) writeResult {
	w := &pacedWriter{p: p, rate: rate, start: time.Now()}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return writeResult{err: err}
	}
	for g := 0; ; g++ {
		if err := w.emit(f, p.perFile); err != nil {
			f.Close()
			return w.result(err)
		}
		if g == p.rotations {
			break
		}
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, g+1)); err != nil {
			f.Close()
			return w.result(err)
		}
		if err := w.emit(f, p.late); err != nil {
			f.Close()
			return w.result(err)
		}
		if err := f.Close(); err != nil {
			return w.result(err)
		}
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return w.result(err)
		}
	}
	return w.result(f.Close())
}

type pacedWriter struct {
	p     *plan
	rate  float64
	start time.Time
	n     int // lines written so far
	buf   []byte
}

// emit writes count lines, in writes of whole lines, keeping to the rate
// measured from the start of the run.
func (w *pacedWriter) emit(f *os.File, count int) error {
	const maxChunk = 256 // lines per write, about 25 KB
	for count > 0 {
		chunk := min(count, maxChunk)
		if w.rate > 0 {
			due := int(time.Since(w.start).Seconds()*w.rate) - w.n
			if due <= 0 {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			chunk = min(chunk, due)
		}
		w.buf = w.buf[:0]
		for i := 0; i < chunk; i++ {
			w.buf = w.p.appendLine(w.buf, w.n+i)
			w.buf = append(w.buf, '\n')
		}
		if _, err := f.Write(w.buf); err != nil {
			return err
		}
		w.n += chunk
		count -= chunk
	}
	return nil
}

func (w *pacedWriter) result(err error) writeResult {
	return writeResult{lines: w.n, duration: time.Since(w.start), err: err}
}
