package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/collect"
)

const (
	faultTopic = "bench_faults"
	// lateLines are written into a file after it was renamed, as a daemon
	// that reopens its log a little after the rename does.
	lateLines = 100
	// outageAfter is how long the writer runs before the broker goes down.
	outageAfter = 10 * time.Second
)

// writer appends total nginx lines to path at rate lines/s. With rotateEvery
// > 0 it renames the file to path.1, path.2, … every rotateEvery lines and
// writes lateLines more into the renamed file before it closes it.
type writer struct {
	path                     string
	rate, total, rotateEvery int
	written                  atomic.Int64
	rotations                atomic.Int64
	done                     chan error
}

func startWriter(ctx context.Context, path string, rate, total, rotateEvery int) (*writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	w := &writer{path: path, rate: rate, total: total, rotateEvery: rotateEvery, done: make(chan error, 1)}
	go func() { w.done <- w.run(ctx) }()
	return w, nil
}

func (w *writer) run(ctx context.Context) error {
	f, err := os.Create(w.path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }() // the one open now; a second Close is harmless
	gen := benchkit.NewNginxLines()
	var line []byte
	put := func(f *os.File) error {
		line = append(gen.Append(line[:0]), '\n')
		_, err := f.Write(line)
		w.written.Add(1)
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start, sinceRotate := time.Now(), 0
	for int(w.written.Load()) < w.total {
		due := min(w.total, int(time.Since(start).Seconds()*float64(w.rate)))
		for int(w.written.Load()) < due {
			if w.rotateEvery > 0 && sinceRotate == w.rotateEvery {
				if f, err = w.rotate(f, put); err != nil {
					return err
				}
				sinceRotate = 0
				continue
			}
			if err := put(f); err != nil {
				return err
			}
			sinceRotate++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return f.Close()
}

// rotate renames the file aside, opens a new one under its name and writes
// the late lines (as many as the total leaves) into the renamed one.
func (w *writer) rotate(old *os.File, put func(*os.File) error) (*os.File, error) {
	n := w.rotations.Add(1)
	if err := os.Rename(w.path, fmt.Sprintf("%s.%d", w.path, n)); err != nil {
		return old, err
	}
	f, err := os.Create(w.path)
	if err != nil {
		return old, err
	}
	for i := 0; i < lateLines && int(w.written.Load()) < w.total; i++ {
		if err := put(old); err != nil {
			return f, err
		}
	}
	return f, old.Close()
}

// writeAndShip starts the agent on the writer's file, then the writer, and
// returns both; during runs between them.
func (e *env) writeAndShip(ctx context.Context, name string, o options, rotateEvery int) (*agentRun, *writer, error) {
	path := filepath.Join(e.Dir, "logs", "app.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil { // there for the agent from the start
		return nil, nil, err
	}
	a, err := e.startAgent(ctx, name, filepath.Join(e.Bin, "logagent"), []collect.Entry{{Path: path, Topic: faultTopic}}, maxOpenFilesYAML(o))
	if err != nil {
		return nil, nil, err
	}
	w, err := startWriter(ctx, path, o.rate, o.lines, rotateEvery)
	if err != nil {
		return nil, nil, a.fail(err)
	}
	return a, w, nil
}

// finish waits for the writer and for the broker to hold every line, stops
// the agent and returns its row.
func (e *env) finish(ctx context.Context, name string, a *agentRun, w *writer, base int64) (row, error) {
	if err := <-w.done; err != nil {
		return row{}, a.fail(fmt.Errorf("writer: %w", err))
	}
	pr, err := waitForRecords(ctx, e.counter, faultTopic, base, int64(w.total), a.p, e.stack.Process)
	if err != nil {
		return row{}, a.fail(err)
	}
	rss, pk, err := a.stop()
	if err != nil {
		return row{}, err
	}
	if err := e.checkCount(faultTopic, base, int64(w.total)); err != nil {
		return row{}, err
	}
	return e.rowOf(name, pr, a.p, rss, pk), nil
}

// rotation ships a file renamed every -rotate-every lines while -rate
// lines/s are written.
func rotation(ctx context.Context, o options) (err error) {
	began := time.Now()
	e, build, err := setUp(ctx, o, []string{faultTopic}, !o.kafkaDisk)
	if err != nil {
		return err
	}
	defer func() { e.close(err != nil) }()
	load := benchkit.LoadAvg()
	a, w, err := e.writeAndShip(ctx, "agent-rotation", o, o.rotateEvery)
	if err != nil {
		return err
	}
	r, err := e.finish(ctx, "agent-rotation", a, w, 0)
	if err != nil {
		return err
	}
	e.reportAgent(many{
		title: fmt.Sprintf("%d lines written at %d lines/s, renamed every %d lines (%d renames, %d late lines into each renamed file)",
			o.lines, o.rate, o.rotateEvery, w.rotations.Load(), lateLines),
		row: r,
	}, load, build, time.Since(began))
	return nil
}

// outage writes -rate lines/s while the broker is down for -outage, and
// reports how soon after its return the agent has shipped the backlog.
func outage(ctx context.Context, o options) (err error) {
	began := time.Now()
	// On disk with synchronous writes: what the broker acknowledged before
	// the outage must still be there after it.
	e, build, err := setUp(ctx, o, []string{faultTopic}, false)
	if err != nil {
		return err
	}
	defer func() { e.close(err != nil) }()
	load := benchkit.LoadAvg()
	a, w, err := e.writeAndShip(ctx, "agent-outage", o, 0)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return a.fail(ctx.Err())
	case <-time.After(outageAfter):
	}
	beforeOutage, err := e.counter.count(faultTopic)
	if err != nil {
		return a.fail(err)
	}
	prog.Logf("broker (and etcd) down for %v", o.outage)
	e.counter.close()
	e.counter = nil
	if err := e.StopDevstack(); err != nil {
		return a.fail(err)
	}
	select {
	case <-ctx.Done():
		return a.fail(ctx.Err())
	case <-time.After(o.outage):
	}
	backlog := w.written.Load()
	if e.stack, err = e.RestartDevstack(ctx); err == nil {
		e.counter, err = newCounter(e.stack.KafkaBrokers)
	}
	if err != nil {
		return a.fail(err)
	}
	back := time.Now()
	pr, err := waitForRecords(ctx, e.counter, faultTopic, beforeOutage, backlog-beforeOutage, a.p, e.stack.Process)
	if err != nil {
		return a.fail(err)
	}
	r, err := e.finish(ctx, "agent-outage", a, w, 0)
	if err != nil {
		return err
	}
	e.reportAgent(many{
		title: fmt.Sprintf("%d lines written at %d lines/s; after %v the broker (all of devstack, etcd too) is down for %v",
			o.lines, o.rate, outageAfter, o.outage),
		row: r,
		detail: []string{
			fmt.Sprintf("before the outage: %d lines on the broker", beforeOutage),
			fmt.Sprintf("backlog:           %d lines written by the broker's return, all on the broker %.2f s after it (first new record after %.2f s)",
				backlog, pr.done.Sub(back).Seconds(), pr.first.Sub(back).Seconds()),
		},
	}, load, build, time.Since(began))
	return nil
}
