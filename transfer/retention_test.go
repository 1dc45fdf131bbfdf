package transfer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
)

// retentionNow is the clock of the retention tests: with 7 days the cutoff
// is 2026.11.19, so 2026.11.18 and older are expired.
var retentionNow = time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC)

func TestDatedPatternParse(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          string // the date; "" when the name must not parse
	}{
		{"web_log-{date}", "web_log-2026.11.18", "2026.11.18"},
		{"web_log-{date}", "web_log-2024.02.29", "2024.02.29"},
		{"logs-{date}-web_log", "logs-2026.01.02-web_log", "2026.01.02"},
		{"x-{date}-{date}", "x-2026.01.02-2026.01.02", "2026.01.02"},
		{"web_log-{date}", "web_log-archive-2026.11.18", ""},
		{"web_log-{date}", "web_log-2026.11.18-restored", ""},
		{"web_log-{date}", "web_log-2026.11.18.bak", ""},
		{"web_log-{date}", "web_log-2026.11.1", ""},
		{"web_log-{date}", "web_log-2026.1.18", ""},
		{"web_log-{date}", "web_log-2026-11-18", ""},
		{"web_log-{date}", "web_log-2026.13.01", ""},
		{"web_log-{date}", "web_log-2026.02.30", ""},
		{"web_log-{date}", "web_log-+026.11.18", ""},
		{"web_log-{date}", "web_log-", ""},
		{"web_log-{date}", "web_log-dlq", ""},
		{"web_log-{date}", "app_log-2026.11.18", ""},
		{"logs-{date}-web_log", "logs-2026.01.02-app_log", ""},
		{"x-{date}-{date}", "x-2026.01.02-2026.01.03", ""},
	}
	for _, c := range cases {
		p, err := newDatedPattern(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := p.parse(c.name)
		got := ""
		if ok {
			got = d.Format(indexDateLayout)
		}
		if got != c.want {
			t.Errorf("%q parsed with %q: %q, want %q", c.name, c.pattern, got, c.want)
		}
	}
	if _, err := newDatedPattern("web_log-all"); err == nil {
		t.Error("a pattern without {date} was accepted")
	}
}

func newTestRetention(t *testing.T, esURL, user, pass string, days int) (*Retention, prometheus.Counter) {
	t.Helper()
	cfg := testConfig(t, esURL, nil)
	cfg.Topics = []string{"web_log", "app_log"}
	cfg.Elasticsearch.Username, cfg.Elasticsearch.Password = user, conf.Secret(pass)
	cfg.RetentionDays = days
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	r, err := NewRetention(cfg, newElastic(t, cfg), m, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return retentionNow }
	return r, m.IndicesDeleted
}

func deletedCount(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestRetentionZinc runs retention against a real engine that, like
// ZincSearch, cannot list indices by pattern, so the indices are found by
// asking for each day before the cutoff, and deleted for real.
func TestRetentionZinc(t *testing.T) {
	z := testenv.StartZinc(t)
	keep := []string{
		"web_log-2026.11.26", // today
		"web_log-2026.11.19", // 7 days before today: the oldest kept
		"audit-2026.11.01",   // not one of the transfer's topics
		"web_log-archive-2026.11.01",
		"web_log-2026.11.01-restored",
		"web_log-2026.11.1",
	}
	expired := []string{"app_log-2026.11.18", "web_log-2025.12.01", "web_log-2026.10.31", "web_log-2026.11.18"}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, name := range append(slices.Clone(keep), expired...) {
		req, _ := http.NewRequest(http.MethodPut, z.URL()+"/"+name, strings.NewReader(`{}`))
		req.SetBasicAuth(z.User(), z.Password())
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("create index %s: HTTP %d", name, resp.StatusCode)
		}
	}

	exists := func(name string) bool {
		req, _ := http.NewRequest(http.MethodHead, z.URL()+"/"+name, nil)
		req.SetBasicAuth(z.User(), z.Password())
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}

	r, count := newTestRetention(t, z.URL(), z.User(), z.Password(), 7)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { return deletedCount(count) == float64(len(expired)) },
		"Run's first sweep deletes %d indices", len(expired))
	t.Logf("first sweep: %v for %d topics x %d days probed", time.Since(start).Round(time.Millisecond), 2, probeDays)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	for _, name := range expired {
		if exists(name) {
			t.Errorf("expired index %s still exists", name)
		}
	}
	for _, name := range keep {
		if !exists(name) {
			t.Errorf("index %s was deleted; it must be kept", name)
		}
	}

	// A second sweep finds nothing more to delete.
	if err := r.sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if deletedCount(count) != float64(len(expired)) {
		t.Errorf("after a second sweep: counted %v deletions, want %d", deletedCount(count), len(expired))
	}
}

// TestRetentionResolveIndex checks the Elasticsearch path: indices are
// listed with _resolve/index (so even very old ones are found), aliases are
// never deleted, and an index another instance deleted first is no error.
func TestRetentionResolveIndex(t *testing.T) {
	var (
		mu      sync.Mutex
		deletes []string
		bad     []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/_resolve/index/web_log-*" && r.URL.Query().Get("expand_wildcards") == "all":
			writeJSON(w, 200, map[string]any{
				"indices": []map[string]any{
					{"name": "web_log-2026.11.26", "attributes": []string{"open"}},
					{"name": "web_log-2026.11.18", "attributes": []string{"open"}},
					{"name": "web_log-2019.01.01", "attributes": []string{"closed"}},
					{"name": "web_log-archive-2026.11.01", "attributes": []string{"open"}},
				},
				"aliases":      []map[string]any{{"name": "web_log-2020.01.01", "indices": []string{"web_log-2026.11.26"}}},
				"data_streams": []any{},
			})
		case r.Method == http.MethodGet && r.URL.Path == "/_resolve/index/app_log-*":
			writeJSON(w, 200, map[string]any{"indices": []any{}, "aliases": []any{}, "data_streams": []any{}})
		case r.Method == http.MethodDelete && r.URL.Path == "/web_log-2026.11.18":
			deletes = append(deletes, r.URL.Path[1:])
			writeJSON(w, 200, map[string]any{"acknowledged": true})
		case r.Method == http.MethodDelete && r.URL.Path == "/web_log-2019.01.01":
			deletes = append(deletes, r.URL.Path[1:])
			writeJSON(w, 404, esErrorBody(404, "index_not_found_exception", "no such index [web_log-2019.01.01]"))
		default:
			bad = append(bad, r.Method+" "+r.URL.String())
			writeJSON(w, 400, esErrorBody(400, "illegal_argument_exception", "unexpected request"))
		}
	}))
	defer srv.Close()

	r, count := newTestRetention(t, srv.URL, "", "", 7)
	if err := r.sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"web_log-2026.11.18", "web_log-2019.01.01"}; !slices.Equal(deletes, want) || len(bad) > 0 {
		t.Errorf("deletes %v, want %v; unexpected requests %v", deletes, want, bad)
	}
	if deletedCount(count) != 1 {
		t.Errorf("indices_deleted_total %v, want 1 (the other was gone already)", deletedCount(count))
	}
}
