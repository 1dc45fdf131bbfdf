package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logagent/logagent/internal/proc"
)

// agentMetrics are the few series of the agent's /metrics the progress line
// shows.
type agentMetrics struct {
	acked      int64 // logagent_messages_acked_total
	lagBytes   int64 // sum of logagent_file_lag_bytes
	sendErrors int64 // sum of logagent_send_errors_total
}

// transferMetrics are the series of logtransfer's /metrics the demo shows.
type transferMetrics struct {
	consumed     int64 // logtransfer_messages_consumed_total
	indexed      int64 // logtransfer_documents_indexed_total
	deadLettered int64 // logtransfer_documents_dead_lettered_total
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func scrapeAgent(ctx context.Context, base string) (agentMetrics, error) {
	var m agentMetrics
	err := scrape(ctx, "agent metrics", base, map[string]*int64{
		"logagent_messages_acked_total": &m.acked,
		"logagent_file_lag_bytes":       &m.lagBytes,
		"logagent_send_errors_total":    &m.sendErrors,
	})
	return m, err
}

func scrapeTransfer(ctx context.Context, base string) (transferMetrics, error) {
	var m transferMetrics
	err := scrape(ctx, "logtransfer metrics", base, map[string]*int64{
		"logtransfer_messages_consumed_total":       &m.consumed,
		"logtransfer_documents_indexed_total":       &m.indexed,
		"logtransfer_documents_dead_lettered_total": &m.deadLettered,
	})
	return m, err
}

// scrape reads a Prometheus text exposition at base/metrics and adds up
// each named series (over all its labels) into its destination. Only a few
// series are needed, so a line scan does instead of a parser dependency.
func scrape(ctx context.Context, what, base string, series map[string]*int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", what, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		dst, ok := series[name]
		if !ok {
			continue
		}
		// The value is the last field (no timestamps in client_golang output).
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return fmt.Errorf("%s: bad value in %q", what, line)
		}
		*dst += int64(v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// waitReady polls base+path until it answers 200, the child exits, ctx
// ends or timeout passes.
func waitReady(ctx context.Context, c *proc.Process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := httpClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c.Exited() {
			return c.Died()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready (%s) after %v; the end of %s:\n%s", c.Name, url, timeout, display(c.LogPath), proc.Tail(c.LogPath, 3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// humanBytes renders n as B, KiB or MiB.
func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// bucket is one cumulative bucket of a Prometheus histogram.
type bucket struct {
	le    float64 // upper bound, +Inf for the last
	count float64 // observations at or below le
}

// scrapeHistogram reads the buckets of the histogram name at base/metrics,
// summed over any other labels, in ascending order of le.
func scrapeHistogram(ctx context.Context, base, name string) ([]bucket, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	byLE := map[float64]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := name + "_bucket{"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		_, rest, _ := strings.Cut(line, `le="`)
		leText, rest, _ := strings.Cut(rest, `"`)
		le, err1 := strconv.ParseFloat(leText, 64) // "+Inf" parses
		f := strings.Fields(rest)
		n, err2 := strconv.ParseFloat(f[len(f)-1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad bucket line %q", line)
		}
		byLE[le] += n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]bucket, 0, len(byLE))
	for le, n := range byLE {
		out = append(out, bucket{le, n})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	return out, nil
}

// quantile estimates the q-quantile of a histogram as Prometheus's
// histogram_quantile does: linearly within the bucket that holds it. ok is
// false without observations.
func quantile(bs []bucket, q float64) (v float64, ok bool) {
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return 0, false
	}
	rank := q * bs[len(bs)-1].count
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower, true // beyond the last finite bound: at least that
			}
			if b.count == below {
				return b.le, true
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below), true
		}
		lower, below = b.le, b.count
	}
	return lower, true
}

// delaySummary is the end-to-end delay of the documents logtransfer stored,
// from its histogram: p50 and p99 of the time from the agent's read of a
// line to the engine storing it; "" if it cannot be read.
func (d *demo) delaySummary(ctx context.Context) string {
	bs, err := scrapeHistogram(ctx, d.transferBase, "logtransfer_event_delay_seconds")
	if err != nil {
		return ""
	}
	p50, ok := quantile(bs, 0.5)
	p99, _ := quantile(bs, 0.99)
	if !ok {
		return ""
	}
	return fmt.Sprintf("end-to-end delay, line read by logagent to document stored: p50 %.2f s, p99 %.2f s over %.0f documents (logtransfer_event_delay_seconds)",
		p50, p99, bs[len(bs)-1].count)
}
