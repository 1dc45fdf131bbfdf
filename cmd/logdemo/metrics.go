package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// agentMetrics are the few series of the agent's /metrics the progress line
// shows.
type agentMetrics struct {
	acked      int64 // logagent_messages_acked_total
	lagBytes   int64 // sum of logagent_file_lag_bytes
	sendErrors int64 // sum of logagent_send_errors_total
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// scrapeAgent reads the agent's Prometheus text exposition. Only three
// series are needed, so a line scan does instead of a parser dependency.
func scrapeAgent(ctx context.Context, base string) (agentMetrics, error) {
	var m agentMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("agent metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("agent metrics: %s", resp.Status)
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
		var dst *int64
		switch name {
		case "logagent_messages_acked_total":
			dst = &m.acked
		case "logagent_file_lag_bytes":
			dst = &m.lagBytes
		case "logagent_send_errors_total":
			dst = &m.sendErrors
		default:
			continue
		}
		// The value is the last field (no timestamps in client_golang output).
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return m, fmt.Errorf("agent metrics: bad value in %q", line)
		}
		*dst += int64(v)
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("agent metrics: %w", err)
	}
	return m, nil
}

// waitAgentReady polls /readyz until the agent's main loop runs, the agent
// exits, or ctx ends.
func waitAgentReady(ctx context.Context, agent *child, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := httpClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if agent.exited() {
			return agent.died()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("logagent not ready after %v; the end of %s:\n%s", timeout, display(agent.logPath), tail(agent.logPath, 3000))
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
