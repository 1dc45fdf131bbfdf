package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/internal/proc"
	"github.com/logagent/logagent/internal/zincenv"
)

// zinc is a ZincSearch server (the zincsearch-es binary that
// scripts/build-zinc.sh builds) running as a child, configured the way
// internal/testenv's StartZinc does.
type zinc struct {
	proc   *proc.Process
	url    string // base of the Elasticsearch-compatible API: http://127.0.0.1:PORT/es
	user   string
	pass   string
	client *http.Client

	bin, dir string   // the binary; dir holds the data dir and the logs
	env      []string // the server's whole environment
	runs     int      // processes started, for their log names
}

func startZinc(ctx context.Context, bin, dir string, extraEnv []string) (*zinc, error) {
	ports, err := benchkit.FreePorts(1)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "zinc")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	z := &zinc{
		url:    "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/es",
		user:   "admin",
		pass:   "Bench-Zinc-" + strconv.Itoa(os.Getpid()),
		client: &http.Client{Timeout: 60 * time.Second},
		bin:    bin,
		dir:    dir,
	}
	z.env = zincenv.Env(zincenv.Server{Port: ports[0], DataDir: dataDir, User: z.user, Password: z.pass, Extra: extraEnv})
	return z, z.launch(ctx)
}

// launch starts the server process and waits until it answers.
func (z *zinc) launch(ctx context.Context) error {
	z.runs++
	logPath := z.dir + ".log"
	if z.runs > 1 {
		logPath = z.dir + "-" + strconv.Itoa(z.runs) + ".log"
	}
	// Zinc reads a .env file from its working directory: the data dir.
	p, err := proc.Start("zincsearch", logPath, proc.Options{ReplaceEnv: z.env, Dir: filepath.Join(z.dir, "zinc"), Stdin: true}, z.bin)
	if err != nil {
		return err
	}
	z.proc = p
	deadline := time.Now().Add(30 * time.Second)
	probe := &http.Client{Timeout: time.Second}
	for {
		resp, err := probe.Get(z.url + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.Stop(syscall.SIGKILL, 5*time.Second)
			return fmt.Errorf("zincsearch-es not ready on %s (exited: %v):\n%s", z.url, p.Err(), proc.Tail(p.LogPath, 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart starts a stopped server again on the same port and data dir, and
// waits until it answers.
func (z *zinc) restart(ctx context.Context) error {
	if !z.proc.Exited() {
		return fmt.Errorf("zincsearch restart: still running")
	}
	return z.launch(ctx)
}

// stop ends the server: SIGTERM, then SIGKILL after grace.
func (z *zinc) stop(grace time.Duration) error {
	defer z.proc.Stdin.Close()
	return z.proc.Stop(syscall.SIGTERM, grace)
}

// count is how many documents in the indexes matching pattern are
// searchable: a size-0 _search with track_total_hits (Zinc has no _count).
// A pattern matching no index yet counts 0.
func (z *zinc) count(ctx context.Context, pattern string) (int64, error) {
	body := `{"size":0,"track_total_hits":true,"query":{"match_all":{}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, z.url+"/"+url.PathEscape(pattern)+"/_search", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(z.user, z.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := z.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if zincenv.NoIndex(resp.StatusCode, b) {
		return 0, nil
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("search %s: HTTP %d: %.300s", pattern, resp.StatusCode, b)
	}
	var r struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("search %s: %w: %.300s", pattern, err, b)
	}
	if r.Error != "" {
		return 0, fmt.Errorf("search %s: %s", pattern, r.Error)
	}
	return r.Hits.Total.Value, nil
}

// source returns the _source of the document with this _id in the indexes
// matching pattern ("" if there is none).
func (z *zinc) source(ctx context.Context, pattern, id string) (string, error) {
	q, _ := json.Marshal(map[string]any{"size": 1, "query": map[string]any{"ids": map[string]any{"values": []string{id}}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, z.url+"/"+url.PathEscape(pattern)+"/_search", bytes.NewReader(q))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(z.user, z.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := z.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Hits struct {
			Hits []struct {
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	if len(r.Hits.Hits) == 0 {
		return "", nil
	}
	return string(r.Hits.Hits[0].Source), nil
}
