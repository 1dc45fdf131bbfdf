package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/logagent/logagent/internal/proc"
)

// peaks is what sampling a daemon's /metrics saw over a run: the highest
// sample of each series.
type peaks struct {
	HeapInUse     float64 // go_memstats_heap_inuse_bytes
	Goroutines    float64 // go_goroutines
	BytesInFlight float64 // logagent_bytes_in_flight: batch memory
	ReadBuffers   float64 // logagent_read_buffer_bytes
	FileRSSKiB    int64   // RssFile in /proc/PID/status: the executable's pages
}

func (p *peaks) add(v map[string]float64) {
	p.HeapInUse = max(p.HeapInUse, v["go_memstats_heap_inuse_bytes"])
	p.Goroutines = max(p.Goroutines, v["go_goroutines"])
	p.BytesInFlight = max(p.BytesInFlight, v["logagent_bytes_in_flight"])
	p.ReadBuffers = max(p.ReadBuffers, v["logagent_read_buffer_bytes"])
}

// sampler scrapes a daemon's /metrics (if it has an addr) and reads its
// /proc status every interval until stopped: the Go heap in use, the
// goroutines and the file-backed part of RSS, which ru_maxrss alone does not
// show.
type sampler struct {
	p     *proc.Process
	addr  string
	every time.Duration
	stop  chan struct{}
	done  chan struct{}
	seen  peaks // written by loop only; read once done is closed
}

// sampleInterval is how often the sampler scrapes an agent tailing that
// many files. A scrape costs the agent CPU in proportion to its series, one per
// file (logagent_file_lag_bytes): every 50 ms with 10,000 files it was a
// fifth of the agent's CPU, so the interval grows with the files.
func sampleInterval(files int) time.Duration {
	return 50 * time.Millisecond * time.Duration(max(1, files/1000))
}

func startSampler(p *proc.Process, addr string, every time.Duration) *sampler {
	s := &sampler{p: p, addr: addr, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	hc := http.Client{Timeout: time.Second}
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.seen.FileRSSKiB = max(s.seen.FileRSSKiB, s.p.FileRSS())
		if s.addr != "" { // a bare child has no /metrics
			if v, err := scrape(&hc, s.addr); err == nil { // not serving yet, or gone
				s.seen.add(v)
			}
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Stop ends the sampling and returns the peaks.
func (s *sampler) Stop() peaks {
	close(s.stop)
	<-s.done
	return s.seen
}

// scrape reads the unlabelled series of a /metrics page.
func scrape(hc *http.Client, addr string) (map[string]float64, error) {
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}
