package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// The demo's second log: an application's, which logtransfer parses with a
// grok pipeline into typed fields.
const (
	appTopic        = "app_log"
	appDLQTopic     = "app_log-dlq"
	appIndexPattern = appTopic + "-*"
	// appLines are written once, at the start.
	appLines = 200
	// appSlowMillis is what the demo's range query looks for.
	appSlowMillis = 500
)

// appPipeline is app_log's pipeline in transfer.yaml: the line into
// fields, the application's own time into @timestamp, the latency a number
// the index template maps as one.
var appPipeline = []map[string]any{
	{"grok": map[string]any{"patterns": []string{`^%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:log.level} \[req=%{WORD:trace.id}\] %{DATA:msg} latency=%{NUMBER:latency_ms}ms$`}}},
	{"date": map[string]any{"field": "ts", "layouts": []string{"2006-01-02 15:04:05.000"}}},
	{"convert": map[string]any{"fields": map[string]string{"latency_ms": "int"}}},
	{"remove": map[string]any{"fields": []string{"ts"}}},
}

// writeAppLog writes the application log and returns how many of its lines
// have a latency of at least appSlowMillis.
func writeAppLog(path string, now time.Time) (slow int, err error) {
	r := rand.New(rand.NewPCG(7, 7))
	levels := []string{"INFO", "INFO", "INFO", "WARN", "ERROR"}
	msgs := []string{"payment accepted", "payment failed: card declined", "order created", "stock reserved", "invoice sent"}
	var b []byte
	for i := range appLines {
		latency := 5 + r.IntN(400)
		if r.IntN(10) == 0 {
			latency += appSlowMillis
		}
		if latency >= appSlowMillis {
			slow++
		}
		t := now.Add(time.Duration(i-appLines) * time.Second).UTC()
		b = fmt.Appendf(b, "%s %s [req=%08x] %s latency=%dms\n", t.Format("2006-01-02 15:04:05.000"),
			levels[r.IntN(len(levels))], r.Uint32(), msgs[r.IntN(len(msgs))], latency)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return 0, fmt.Errorf("write the application log: %w", err)
	}
	return slow, nil
}

// slowBody finds the application's slow requests: a range on a field the
// pipeline made a number.
var slowBody = fmt.Sprintf(`{"size":3,"track_total_hits":true,"query":{"range":{"latency_ms":{"gte":%d}}}}`, appSlowMillis)

// appLogWait bounds the wait for the application log's documents at the end;
// they were written at the start, so they are searchable long before.
const appLogWait = 30 * time.Second

// checkAppLog reports whether every line of the application log is
// searchable and its slow requests are found by a range on latency_ms.
func (d *demo) checkAppLog(ctx context.Context, pause func(time.Duration) bool) (verdict string, err error) {
	deadline := time.Now().Add(appLogWait)
	var n, slow int64
	for {
		n, err = d.search.countIn(ctx, appIndexPattern, countBody)
		if err == nil {
			slow, err = d.search.countIn(ctx, appIndexPattern, slowBody)
		}
		if err == nil && n >= appLines && slow >= int64(d.appSlow) || time.Now().After(deadline) || !pause(time.Second) {
			break
		}
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("count the application log's documents: %w", err)
	case n != appLines || slow != int64(d.appSlow):
		return fmt.Sprintf("application log: %d of %d lines searchable, %d of %d slow ones found by latency_ms", n, appLines, slow, d.appSlow),
			fmt.Errorf("the application log's %d lines are not all searchable as parsed documents (%d, %d of %d slow); see %s",
				appLines, n, slow, d.appSlow, display(d.l.transferLog))
	}
	return fmt.Sprintf("the application log's %d lines are searchable as fields (grok pipeline), %d with latency_ms >= %d", n, slow, appSlowMillis), nil
}
