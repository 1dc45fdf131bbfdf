package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingSink acknowledges every batch at once and keeps nothing but a
// count: memory tests measure the agent, not a recording of its output.
type countingSink struct{ messages atomic.Int64 }

func (s *countingSink) Send(_ context.Context, b *Batch) error {
	s.messages.Add(int64(len(b.Messages)))
	b.Ack()
	b.Release()
	return nil
}

// TestManyOpenFilesCostLittleMemory: 1,000 files tailed at once through the
// real manager, then idle and still open. What they hold must follow the
// work in flight (none, once shipped), not the number of files: each idle
// open file may cost at most 8 KiB of heap. (A batch arena and a read
// buffer per file, as the agent once held, are 1.3 MiB each.)
func TestManyOpenFilesCostLittleMemory(t *testing.T) {
	if os.Getenv(inOwnProcess) == "" {
		runInOwnProcess(t) // other tests' leftovers would blur the heap figures
		return
	}
	const files, linesPerFile = 1000, 100
	perFileBudget := 8 << 10
	if raceDetector {
		perFileBudget = 16 << 10 // the same code measures 5-7 KiB per file under -race
	}
	dir := t.TempDir()
	line := strings.Repeat("m", 169) + "\n"
	content := strings.Repeat(line, linesPerFile)
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := heapInUse()
	opts := testOptions()
	opts.MaxOpenFiles = 2 * files
	sink := &countingSink{}
	tl := &tailer{t: t, dir: dir, regPath: filepath.Join(dir, "state", "registry.json")}
	if err := os.MkdirAll(filepath.Dir(tl.regPath), 0o750); err != nil {
		t.Fatal(err)
	}
	tl.startWith(opts, sink, entry(dir, "*.log"))
	t.Cleanup(tl.stop)
	waitFor(t, 60*time.Second, "every line shipped", func() bool { return sink.messages.Load() == files*linesPerFile })
	waitFor(t, 10*time.Second, "every file open and idle", func() bool {
		return testutilGauge(tl.metrics.FilesOpen) == files && testutilGauge(tl.metrics.ReadBufferBytes) == 0 &&
			testutilGauge(tl.metrics.BytesInFlight) == 0
	})
	used := heapInUse() - before
	t.Logf("%d idle open files: %.1f KiB of heap each (%.1f MiB in all); %d goroutines, %.1f KiB of stack each",
		files, float64(used)/files/1024, float64(used)/(1<<20), runtime.NumGoroutine(),
		float64(readMetric("/memory/classes/heap/stacks:bytes"))/float64(runtime.NumGoroutine())/1024)
	if used > uint64(files*perFileBudget) {
		t.Fatalf("%d idle open files hold %.1f MiB of heap, %.1f KiB each; the budget is %d KiB each",
			files, float64(used)/(1<<20), float64(used)/files/1024, perFileBudget>>10)
	}
}

// inOwnProcess is set in the environment of a test re-run alone in a child
// process.
const inOwnProcess = "LOGAGENT_TEST_IN_OWN_PROCESS"

// runInOwnProcess runs the calling test again, alone, in a child process of
// this test binary, and fails if it fails.
func runInOwnProcess(t *testing.T) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), inOwnProcess+"=1")
	out, err := cmd.CombinedOutput()
	for l := range strings.Lines(string(out)) {
		if strings.HasPrefix(strings.TrimSpace(l), "memory_test.go") {
			t.Log(strings.TrimSpace(l))
		}
	}
	if err != nil {
		t.Fatalf("%s in its own process: %v\n%s", t.Name(), err, out)
	}
}

// heapInUse is the heap's live objects after a collection (two: pooled
// buffers survive the first).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	return readMetric("/memory/classes/heap/objects:bytes")
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heldSink keeps every batch unacknowledged until release, so batch memory
// fills and stays full; after release it acknowledges at once.
type heldSink struct {
	mu       sync.Mutex
	held     []*Batch
	files    map[string]bool // keys of the files a batch came from
	released bool
	messages atomic.Int64
}

func (s *heldSink) Send(_ context.Context, b *Batch) error {
	s.messages.Add(int64(len(b.Messages)))
	s.mu.Lock()
	if !s.released {
		s.held = append(s.held, b)
		for _, m := range b.Messages {
			s.files[string(m.Key)] = true
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	b.Ack()
	b.Release()
	return nil
}

func (s *heldSink) sentFiles() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

func (s *heldSink) release() {
	s.mu.Lock()
	held := s.held
	s.held, s.released = nil, true
	s.mu.Unlock()
	for _, b := range held {
		b.Ack()
		b.Release()
	}
}

// TestReadBuffersAreCappedWhileBatchMemoryIsFull: 200 files with a backlog
// and batch memory full (nothing acknowledged). Only as many files as there
// are read slots hold a read buffer; the rest wait for one holding nothing,
// instead of each holding 16 KiB while it waits for batch memory. Once
// acknowledgements come, every line ships.
func TestReadBuffersAreCappedWhileBatchMemoryIsFull(t *testing.T) {
	const files, linesPerFile = 200, 100
	dir := t.TempDir()
	content := strings.Repeat(strings.Repeat("r", 169)+"\n", linesPerFile) // 17 KB: two reads
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.log", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := testOptions()
	opts.MaxOpenFiles = 2 * files
	opts.MaxBytesInFlight = 1 << 20
	slots := int(max(minReadSlots, opts.MaxBytesInFlight/(4*readBufferSize)))
	sink := &heldSink{files: map[string]bool{}}
	tl := &tailer{t: t, dir: dir, regPath: filepath.Join(dir, "state", "registry.json")}
	if err := os.MkdirAll(filepath.Dir(tl.regPath), 0o750); err != nil {
		t.Fatal(err)
	}
	tl.startWith(opts, sink, entry(dir, "*.log"))
	t.Cleanup(tl.stop)
	// Stuck: every file neither holding a slot nor done sending waits.
	waitFor(t, 20*time.Second, "the files without a read slot waiting for one", func() bool {
		return testutilGauge(tl.metrics.FilesWaitingToRead) >= float64(files-slots-sink.sentFiles())
	})
	if got, limit := testutilGauge(tl.metrics.ReadBufferBytes), float64(slots*readBufferSize); got > limit {
		t.Fatalf("read buffers hold %.0f KiB while batch memory is full; %d slots allow %.0f KiB", got/1024, slots, limit/1024)
	}
	sink.release()
	waitFor(t, 60*time.Second, "every line shipped", func() bool { return sink.messages.Load() == files*linesPerFile })
}

// TestIdleFilesWithAPartialLineGiveTheirReadSlotBack: more files than read
// slots end in a line not finished yet. Each keeps only those bytes while it
// waits, so every file is read, and the finished lines ship whole.
func TestIdleFilesWithAPartialLineGiveTheirReadSlotBack(t *testing.T) {
	const files = 100
	dir := t.TempDir()
	path := func(i int) string { return filepath.Join(dir, fmt.Sprintf("p%03d.log", i)) }
	for i := range files {
		appendFile(t, path(i), fmt.Sprintf("first %d\nsecond %d, half", i, i))
	}
	opts := testOptions()
	opts.MaxOpenFiles = 2 * files
	opts.MaxBytesInFlight = 1 << 20 // minReadSlots slots, far fewer than the files
	tl := &tailer{t: t, dir: dir, regPath: filepath.Join(dir, "state", "registry.json")}
	if err := os.MkdirAll(filepath.Dir(tl.regPath), 0o750); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{}
	tl.startWith(opts, sink, entry(dir, "*.log"))
	t.Cleanup(tl.stop)
	waitFor(t, 20*time.Second, "every file's first line", func() bool { return sink.count() == files })
	for i := range files {
		appendFile(t, path(i), " done\n")
	}
	waitFor(t, 20*time.Second, "every file's second line", func() bool { return sink.count() == 2*files })
	for _, m := range sink.messages() {
		if strings.HasPrefix(m, "second") && !strings.HasSuffix(m, ", half done") {
			t.Fatalf("second line not whole: %q", m)
		}
	}
}
