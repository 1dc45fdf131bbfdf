package testenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logagent/logagent/internal/zincenv"
)

const (
	// zincReadyTimeout bounds the wait for a started Zinc to answer. It is
	// ready ~0.1 s after launch; the margin is for a busy 2-core machine.
	zincReadyTimeout = 30 * time.Second
	// zincStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	// The server itself gives in-flight requests 10 s.
	zincStopTimeout = 15 * time.Second
	// zincHTTPTimeout bounds every request of the helpers.
	zincHTTPTimeout = 30 * time.Second
	// zincMaxResults is the largest search size Zinc honours (it silently
	// caps larger ones; its default is 10000). IDs reads everything in one
	// search of this size.
	zincMaxResults = 1_000_000
)

// Zinc is a ZincSearch server (tools/zincsearch, built by
// scripts/build-zinc.sh) running as a child process: a stand-in for
// Elasticsearch serving its API under /es, with data in a t.TempDir().
//
// Zinc acknowledges a bulk request once it is in its write-ahead log and
// indexes it about 0.1-0.3 s later (ZINC_WAL_SYNC_INTERVAL=100ms here), so
// poll Count until the documents are searchable; do not call _refresh in a
// loop. For its other differences from Elasticsearch see
// tools/zincsearch/README.md.
type Zinc struct {
	t       testing.TB
	bin     string
	dir     string // ZINC_DATA_PATH, kept across restarts
	logFile string // the server's stdout and stderr, appended across restarts
	port    int
	user    string
	pass    string
	client  *http.Client

	mu   sync.Mutex
	proc *zincProc // nil while stopped
}

// zincProc is one run of the server.
type zincProc struct {
	cmd *exec.Cmd
	// stdin is the write end of the server's stdin. The server stops when
	// it closes, which the kernel does when the test process dies without
	// running its cleanups (a -timeout panic, say).
	stdin  *os.File
	exited chan struct{} // closed once the process is reaped
	err    error         // cmd.Wait's result; read after exited is closed
}

// errZincPortTaken means the server could not bind its port: another
// process took it between FreePort and the server's listen.
var errZincPortTaken = errors.New("port taken")

// StartZinc starts ZincSearch on 127.0.0.1 with a free port and an empty
// data dir, and waits until it answers. It is stopped by t.Cleanup; if the
// test failed, the end of the server's log is printed.
//
// The binary is $LOGAGENT_ZINC_BIN or <repo>/.cache/bin/zincsearch-es. If it
// is missing the test fails: run `make deps` (or scripts/build-zinc.sh).
func StartZinc(t testing.TB) *Zinc {
	t.Helper()
	bin, err := zincBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	z := &Zinc{
		t:       t,
		bin:     bin,
		dir:     t.TempDir(),
		logFile: filepath.Join(t.TempDir(), "zinc.log"),
		user:    "admin",
		pass:    "testenv-Zinc-1",
		client:  &http.Client{Timeout: zincHTTPTimeout},
	}
	t.Cleanup(func() {
		z.Stop()
		z.client.CloseIdleConnections()
		if t.Failed() {
			z.dumpLog()
		}
	})
	for attempt := 1; ; attempt++ {
		z.port = FreePort(t)
		err = z.start()
		if err == nil {
			return z
		}
		if !errors.Is(err, errZincPortTaken) || attempt == 3 {
			t.Fatalf("testenv: start zinc: %v", err)
		}
	}
}

// URL is the base URL of the Elasticsearch-compatible API, for
// elastic.SetURL: http://127.0.0.1:PORT/es. It stays the same across
// Stop/Restart.
func (z *Zinc) URL() string {
	return "http://127.0.0.1:" + strconv.Itoa(z.port) + "/es"
}

// User is the admin user, for HTTP basic authentication.
func (z *Zinc) User() string { return z.user }

// Password is the admin user's password.
func (z *Zinc) Password() string { return z.pass }

// Stop stops the server (SIGTERM, then SIGKILL after 15 s), keeping its
// data. It does nothing if the server is stopped already. A server that
// does not shut down cleanly fails the test.
func (z *Zinc) Stop() {
	z.mu.Lock()
	defer z.mu.Unlock()
	p := z.proc
	if p == nil {
		return
	}
	z.proc = nil
	defer p.stdin.Close()
	select {
	case <-p.exited: // died by itself
		z.t.Errorf("testenv: zinc had exited before Stop: %v (log: %s)", p.err, z.logFile)
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			z.t.Errorf("testenv: zinc shutdown: %v (log: %s)", p.err, z.logFile)
		}
	case <-time.After(zincStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		z.t.Errorf("testenv: zinc did not stop within %v of SIGTERM; killed it", zincStopTimeout)
	}
}

// Restart stops the server if it runs and starts it again on the same port
// and data dir; indexed documents survive.
func (z *Zinc) Restart(t testing.TB) {
	t.Helper()
	z.Stop()
	if err := z.start(); err != nil {
		t.Fatalf("testenv: restart zinc: %v", err)
	}
}

// Count returns how many documents in the indexes matching indexPattern
// (a name, a comma-separated list or a pattern with a leading or trailing
// *) are searchable now; 0 if no such index exists yet. (Zinc has no
// _count; this is a size-0 _search.)
func (z *Zinc) Count(t testing.TB, indexPattern string) int64 {
	t.Helper()
	var resp zincSearchResponse
	if !z.search(t, indexPattern, `{"size":0,"track_total_hits":true,"query":{"match_all":{}}}`, &resp) {
		return 0
	}
	return resp.Hits.Total.Value
}

// IDs returns every searchable document _id in the indexes matching
// indexPattern, with the number of documents that have it (more than one
// means duplicates, within or across indexes). It reads up to a million
// documents.
func (z *Zinc) IDs(t testing.TB, indexPattern string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	var resp zincSearchResponse
	q := fmt.Sprintf(`{"size":%d,"track_total_hits":true,"_source":false,"query":{"match_all":{}}}`, zincMaxResults)
	if !z.search(t, indexPattern, q, &resp) {
		return ids
	}
	if int64(len(resp.Hits.Hits)) != resp.Hits.Total.Value {
		t.Fatalf("testenv: zinc IDs(%q): got %d hits of %d documents (at most %d are read)",
			indexPattern, len(resp.Hits.Hits), resp.Hits.Total.Value, zincMaxResults)
	}
	for _, h := range resp.Hits.Hits {
		ids[h.ID]++
	}
	return ids
}

// Search runs a search request body (Elasticsearch query DSL as Zinc
// understands it, e.g. {"query":{"term":{"level":"error"}},"size":100}) on
// the indexes matching indexPattern and returns the _source of the hits, in
// Zinc's order; nil if no such index exists. Zinc's default size is 10.
func (z *Zinc) Search(t testing.TB, indexPattern, queryJSON string) []json.RawMessage {
	t.Helper()
	var resp zincSearchResponse
	if !z.search(t, indexPattern, queryJSON, &resp) {
		return nil
	}
	out := make([]json.RawMessage, len(resp.Hits.Hits))
	for i, h := range resp.Hits.Hits {
		out[i] = h.Source
	}
	return out
}

// GetJSON GETs path of the Elasticsearch API (e.g. /web_log-2026.11.26/_settings)
// and decodes the answer into v; anything but 200 fails the test.
func (z *Zinc) GetJSON(t testing.TB, path string, v any) {
	t.Helper()
	status, b := z.do(t, http.MethodGet, path, "")
	if status != http.StatusOK {
		t.Fatalf("testenv: zinc GET %s: HTTP %d: %s", path, status, truncate(b, 2000))
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testenv: zinc GET %s: decode: %v: %s", path, err, truncate(b, 2000))
	}
}

type zincSearchResponse struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []struct {
			Index  string          `json:"_index"`
			ID     string          `json:"_id"`
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
	Error string `json:"error"`
}

// search posts body to /es/{indexPattern}/_search and decodes the answer
// into resp. It reports false if no index matches the pattern and fails
// the test on any other error.
func (z *Zinc) search(t testing.TB, indexPattern, body string, resp *zincSearchResponse) bool {
	t.Helper()
	if indexPattern == "" {
		t.Fatalf("testenv: zinc search: empty index pattern")
	}
	status, b := z.do(t, http.MethodPost, "/"+url.PathEscape(indexPattern)+"/_search", body)
	if zincenv.NoIndex(status, b) {
		return false
	}
	if status != http.StatusOK {
		t.Fatalf("testenv: zinc search %s: HTTP %d: %s", indexPattern, status, truncate(b, 2000))
	}
	if err := json.Unmarshal(b, resp); err != nil {
		t.Fatalf("testenv: zinc search %s: decode response: %v: %s", indexPattern, err, truncate(b, 2000))
	}
	if resp.Error != "" {
		t.Fatalf("testenv: zinc search %s: %s", indexPattern, resp.Error)
	}
	return true
}

// do sends a request with the admin's credentials to the API under /es and
// returns the status and body. A transport error fails the test.
func (z *Zinc) do(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, z.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("testenv: zinc %s %s: %v", method, path, err)
	}
	req.SetBasicAuth(z.user, z.pass)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := z.client.Do(req)
	if err != nil {
		t.Fatalf("testenv: zinc %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("testenv: zinc %s %s: read response: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// start launches the server and waits until it answers.
func (z *Zinc) start() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.proc != nil {
		return nil
	}

	logf, err := os.OpenFile(z.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	logStart, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer stdinR.Close()

	cmd := exec.Command(z.bin)
	cmd.Dir = z.dir // Zinc reads a .env file from its working directory
	cmd.Env = z.env()
	cmd.Stdin = stdinR
	cmd.Stdout = logf
	cmd.Stderr = logf
	launched := time.Now()
	if err := cmd.Start(); err != nil {
		stdinW.Close()
		return fmt.Errorf("run %s: %w", z.bin, err)
	}
	p := &zincProc{cmd: cmd, stdin: stdinW, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	if err := z.waitReady(p); err != nil {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		stdinW.Close()
		out := z.readLog(logStart)
		if strings.Contains(out, "address already in use") {
			return fmt.Errorf("127.0.0.1:%d: %w", z.port, errZincPortTaken)
		}
		return fmt.Errorf("%v; server output:\n%s", err, out)
	}
	z.proc = p
	if d := time.Since(launched); d > 5*time.Second {
		z.t.Logf("testenv: zinc took %v to start", d.Round(time.Millisecond))
	}
	return nil
}

// env is the server's environment (zincenv.Env) with the result cap raised.
func (z *Zinc) env() []string {
	return zincenv.Env(zincenv.Server{Port: z.port, DataDir: z.dir, User: z.user, Password: z.pass,
		Extra: []string{"ZINC_MAX_RESULTS=" + strconv.Itoa(zincMaxResults)}})
}

// waitReady polls the unauthenticated cluster-info endpoint until it
// answers 200, the process exits or zincReadyTimeout passes.
func (z *Zinc) waitReady(p *zincProc) error {
	deadline := time.Now().Add(zincReadyTimeout)
	interval := 5 * time.Millisecond
	probe := &http.Client{Timeout: time.Second}
	defer probe.CloseIdleConnections()
	for {
		resp, err := probe.Get(z.URL() + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("zincsearch-es exited while starting: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zincsearch-es not ready on %s after %v: %v", z.URL(), zincReadyTimeout, err)
		}
		time.Sleep(interval)
		interval = min(interval*2, 100*time.Millisecond)
	}
}

// readLog returns the log from offset on, at most its last 8 KiB.
func (z *Zinc) readLog(offset int64) string {
	b, err := os.ReadFile(z.logFile)
	if err != nil || int64(len(b)) <= offset {
		return ""
	}
	b = b[offset:]
	const tail = 8 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return string(b)
}

func (z *Zinc) dumpLog() {
	if s := z.readLog(0); s != "" {
		z.t.Logf("zinc log tail (%s):\n%s", z.logFile, s)
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// zincBinary finds the zincsearch-es binary (zincenv.Binary).
func zincBinary() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("find the ZincSearch binary: %v; set %s or run `make deps`", err, zincenv.BinEnv)
	}
	return zincenv.Binary(root)
}

// repoRoot walks up from the working directory (a test's package
// directory) to the directory whose go.mod declares logagent's module.
func repoRoot() (string, error) {
	const module = "github.com/logagent/logagent"
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if rest, ok := strings.CutPrefix(line, "module"); ok {
					if strings.Trim(strings.TrimSpace(rest), `"`) == module {
						f.Close()
						return dir, nil
					}
					break
				}
			}
			f.Close()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", module)
		}
		dir = parent
	}
}
