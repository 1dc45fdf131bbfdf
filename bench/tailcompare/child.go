package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hpcloud/tail"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/collect"
)

// A child runs one tailer on -path and reports to the parent on stdout, one
// record a line:
//
//	V <module version>   which tail library this binary was built with
//	R                    the tailer is started
//	L <text>             a line the tailer delivered
//	E <text>             an error the tailer delivered instead of a line
//	N <text>             a note (the tailer stopped by itself, ...)
//
// It stops when its stdin reaches EOF (the parent closes it, or dies).
// Whatever the library logs goes to stderr, which the parent keeps in a file.

// report is the child's buffered stdout. A tailer's own goroutines may exit
// the process (hpcloud/tail calls os.Exit on some errors), so it is flushed
// whenever the tailer has nothing more to hand over at the moment.
type report struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newReport() *report { return &report{w: bufio.NewWriterSize(os.Stdout, 256<<10)} }

func (r *report) record(kind byte, text string) {
	r.mu.Lock()
	r.w.WriteByte(kind)
	r.w.WriteByte(' ')
	r.w.WriteString(text)
	r.w.WriteByte('\n')
	r.mu.Unlock()
}

func (r *report) flush() {
	r.mu.Lock()
	r.w.Flush()
	r.mu.Unlock()
}

// stdinClosed is closed when the parent asks the child to stop.
func stdinClosed() <-chan struct{} {
	c := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(c)
	}()
	return c
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				if m.Replace != nil {
					return m.Version + " => " + m.Replace.Path + " " + m.Replace.Version
				}
				return m.Version
			}
		}
	}
	return "unknown"
}

// runChild runs the tailer kind on path and returns the exit code.
func runChild(kind, path, stateDir string) int {
	switch kind {
	case "hpcloud", "hpcloud-poll":
		return childHpcloud(path, kind == "hpcloud-poll")
	case "logagent":
		return childLogagent(path, stateDir)
	case "logagent-glob":
		return childLogagent(path+"*", stateDir)
	}
	fmt.Fprintf(os.Stderr, "unknown child kind %q\n", kind)
	return 2
}

// childHpcloud follows path with hpcloud/tail as its README suggests for
// rotated logs: Follow + ReOpen, inotify or polling.
func childHpcloud(path string, poll bool) int {
	out := newReport()
	out.record('V', "github.com/hpcloud/tail "+moduleVersion("github.com/hpcloud/tail"))
	t, err := tail.TailFile(path, tail.Config{Follow: true, ReOpen: true, MustExist: false, Poll: poll})
	if err != nil {
		out.record('N', "TailFile: "+err.Error())
		out.flush()
		return 1
	}
	out.record('R', "")
	out.flush()
	stop := stdinClosed()
	for {
		var (
			l  *tail.Line
			ok bool
		)
		select {
		case <-stop:
			return stopHpcloud(t, out)
		case l, ok = <-t.Lines:
		default:
			out.flush()
			select {
			case <-stop:
				return stopHpcloud(t, out)
			case l, ok = <-t.Lines:
			}
		}
		if !ok {
			out.record('N', fmt.Sprintf("Lines channel closed by the library (tail.Err: %v)", t.Err()))
			out.flush()
			<-stop
			return 0
		}
		if l.Err != nil {
			out.record('E', l.Err.Error())
			continue
		}
		out.record('L', l.Text)
	}
}

// stopHpcloud stops the tailer, but not for long: in v1.0.0 a goroutine
// blocked sending a line never sees the stop.
func stopHpcloud(t *tail.Tail, out *report) int {
	out.flush()
	done := make(chan error, 1)
	go func() { done <- t.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			out.record('N', "Stop: "+err.Error())
		}
	case <-time.After(2 * time.Second):
		out.record('N', "Stop did not return within 2s")
	}
	out.flush()
	return 0
}

// lineSink hands the message field of every envelope to the parent and acks
// at once, as if Kafka had taken the batch.
type lineSink struct{ out *report }

func (s *lineSink) Send(_ context.Context, b *agent.Batch) error {
	var ev struct {
		Message *string `json:"message"`
	}
	for _, m := range b.Messages {
		ev.Message = nil
		if err := json.Unmarshal(m.Value, &ev); err != nil || ev.Message == nil {
			s.out.record('L', "undecodable envelope: "+string(m.Value))
			continue
		}
		s.out.record('L', *ev.Message)
	}
	s.out.flush()
	b.Ack()
	b.Release()
	return nil
}

// childLogagent follows the files matching pattern with the agent's Manager
// at its default-ish timings.
func childLogagent(pattern, stateDir string) int {
	out := newReport()
	out.record('V', "github.com/logagent/logagent "+moduleVersion("github.com/logagent/logagent"))
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		out.record('N', err.Error())
		out.flush()
		return 1
	}
	reg, err := agent.OpenRegistry(filepath.Join(stateDir, "registry.json"))
	if err != nil {
		out.record('N', err.Error())
		out.flush()
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := agent.ManagerOptions{
		HostID: "tailcompare", MaxLineBytes: 64 << 10, MaxMessageBytes: 1 << 20, MaxBytesInFlight: 16 << 20,
		RescanInterval: time.Second, PollInterval: 250 * time.Millisecond, RotateWait: time.Second,
		CloseInactive: 5 * time.Minute, MaxOpenFiles: 100, ForgetAfter: 24 * time.Hour,
	}
	mgr := agent.NewManager(opts, reg, &lineSink{out: out}, agent.NewMetrics(prometheus.NewRegistry()), logger)
	mgr.Apply([]collect.Entry{{
		Path: pattern, Topic: "tailcompare", Start: collect.StartBeginning,
		Format: collect.FormatEnvelope, Timestamp: collect.Timestamp{Format: collect.TimestampNone},
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mgr.Run(ctx) }()
	out.record('R', "")
	out.flush()
	select {
	case <-stdinClosed():
	case err := <-done:
		out.record('N', fmt.Sprintf("Manager.Run returned by itself: %v", err))
		out.flush()
		return 1
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		out.record('N', "Manager.Run did not return within 5s of cancel")
	}
	out.flush()
	return 0
}
