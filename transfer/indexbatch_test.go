package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
	"github.com/logagent/logagent/wire"
)

// fastPolicy keeps retries quick; the backoff shape is tested separately.
var fastPolicy = Policy{InitialBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MissingAttempts: 3, ProbeInterval: 10 * time.Millisecond}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a validated transfer config pointing at esURL and brokers
// (a placeholder when the test needs no Kafka).
func testConfig(t *testing.T, esURL string, brokers []string) *conf.Transfer {
	t.Helper()
	if brokers == nil {
		brokers = []string{"127.0.0.1:1"}
	}
	cfg := &conf.Transfer{
		Kafka:         conf.Kafka{Brokers: brokers},
		Elasticsearch: conf.Elasticsearch{URLs: []string{esURL}, Timeout: 10 * time.Second},
	}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newElastic(t *testing.T, cfg *conf.Transfer) *Elastic {
	t.Helper()
	e, err := NewElastic(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// testDocs makes n documents d00, d01, … from Kafka messages of web_log
// partition 0, offsets 0…n-1, through the real Converter.
func testDocs(t *testing.T, cfg *conf.Transfer, n int) []Doc {
	t.Helper()
	c, err := NewConverter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]Doc, n)
	for i := range docs {
		id := fmt.Sprintf("d%02d", i)
		docs[i] = c.Document(&sarama.ConsumerMessage{
			Topic: "web_log", Partition: 0, Offset: int64(i), Key: []byte("web1/access.log"), Timestamp: kafkaTime,
			Value: fmt.Appendf(nil, `{"@timestamp":"2026-11-05T10:00:00Z","message":"line %d","event":{"id":%q}}`, i, id),
			Headers: []*sarama.RecordHeader{
				{Key: []byte("event.id"), Value: []byte(id)}, {Key: []byte("format"), Value: []byte("envelope")},
			},
		})
	}
	return docs
}

func ids(docs []Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func without(all []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(drop, s) })
}

// kafkaDLQ starts kfake with the DLQ topic and a real sarama dead-letter writer.
func kafkaDLQ(t *testing.T) (*testenv.Kafka, *KafkaDeadLetters, []string) {
	t.Helper()
	k := testenv.StartKafka(t, testenv.Topics("web_log-dlq"))
	cfg := testConfig(t, "http://127.0.0.1:1", k.Brokers())
	w, err := NewKafkaDeadLetters(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return k, w, k.Brokers()
}

// recordingDLQ is an in-memory DeadLetterWriter that can fail on demand.
type recordingDLQ struct {
	mu      sync.Mutex
	fail    int // fail this many more writes
	writes  int
	letters []DeadLetter
}

func (r *recordingDLQ) Write(ctx context.Context, l []DeadLetter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	if r.fail > 0 {
		r.fail--
		return errors.New("broker unavailable")
	}
	r.letters = append(r.letters, l...)
	return nil
}

func (r *recordingDLQ) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.letters))
	for i, l := range r.letters {
		out[i] = l.Doc.ID
	}
	slices.Sort(out)
	return out
}

func TestIndexBatchDeadLettersDocumentErrors(t *testing.T) {
	k, dlq, brokers := kafkaDLQ(t)
	srv := newFaultServer(t, perDoc(func(_ int, d bulkDoc) item {
		switch d.ID {
		case "d03":
			return item{400, "mapper_parsing_exception", "failed to parse field [http.response.status_code] of type [long] in document with id 'd03'"}
		case "d07":
			return item{400, "document_parsing_exception", "[1:42] failed to parse: unexpected character"}
		case "d08":
			return item{400, "strange_new_exception", "something about this document"}
		}
		return created
	}))
	cfg := testConfig(t, srv.URL, brokers)
	docs := testDocs(t, cfg, 10)

	st, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := srv.storedIDs(), without(ids(docs), "d03", "d07", "d08"); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	if n := len(srv.calls()); n != 1 {
		t.Errorf("%d bulk requests, want 1: document errors are not retried", n)
	}
	if st.Indexed != 7 || st.DeadLettered != 3 || st.Requests != 1 {
		t.Errorf("stats %+v", st)
	}

	recs := k.ReadAll(t, "web_log-dlq")
	if len(recs) != 3 {
		t.Fatalf("%d dead letters, want 3", len(recs))
	}
	want := map[string]struct{ typ, reason, offset string }{
		"d03": {"mapper_parsing_exception", "failed to parse field [http.response.status_code]", "3"},
		"d07": {"document_parsing_exception", "failed to parse", "7"},
		"d08": {"strange_new_exception", "something about this document", "8"},
	}
	for _, r := range recs {
		h := r.Headers
		w, ok := want[h["event.id"]]
		if !ok {
			t.Errorf("unexpected dead letter %v", h)
			continue
		}
		if h[wire.HeaderErrorType] != w.typ || !strings.Contains(h[wire.HeaderErrorReason], w.reason) ||
			h[wire.HeaderSourceTopic] != "web_log" || h[wire.HeaderSourcePartition] != "0" || h[wire.HeaderSourceOffset] != w.offset {
			t.Errorf("dead letter headers %v, want %+v", h, w)
		}
		if h["format"] != "envelope" || string(r.Key) != "web1/access.log" || !strings.Contains(string(r.Value), `"message":"line `+w.offset+`"`) {
			t.Errorf("dead letter is not the original message: key %q value %s headers %v", r.Key, r.Value, h)
		}
	}
}

func TestIndexBatchRetriesThrottledItems(t *testing.T) {
	srv := newFaultServer(t, firstCalls(2, perDoc(func(call int, d bulkDoc) item {
		if d.ID[2]%2 == 1 {
			return item{429, "es_rejected_execution_exception", "rejected execution of coordinating operation"}
		}
		return created
	}), allOK))
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 10)
	dlq := &recordingDLQ{}

	if _, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog()); err != nil {
		t.Fatal(err)
	}
	if got := srv.storedIDs(); !slices.Equal(got, ids(docs)) {
		t.Errorf("stored %v, want all", got)
	}
	calls := srv.calls()
	odd := []string{"d01", "d03", "d05", "d07", "d09"}
	if len(calls) != 3 || !slices.Equal(calls[1], odd) || !slices.Equal(calls[2], odd) {
		t.Errorf("requests %v, want all then the throttled ones twice", calls)
	}
	if dlq.writes != 0 {
		t.Errorf("throttled documents were dead-lettered: %v", dlq.ids())
	}
}

func TestIndexBatchRetriesWholeRequestFailures(t *testing.T) {
	srv := newFaultServer(t, sequence(
		reply{status: 503, errType: "unavailable_shards_exception", reason: "primary shard is not active"},
		reply{status: 500, errType: "exception", reason: "boom"},
		reply{hangup: true},
		reply{status: 429, errType: "circuit_breaking_exception", reason: "[parent] Data too large"},
		reply{status: 502},
	))
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 5)
	dlq := &recordingDLQ{}

	st, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.storedIDs(); !slices.Equal(got, ids(docs)) {
		t.Errorf("stored %v, want all", got)
	}
	calls := srv.calls()
	if len(calls) != 6 {
		t.Errorf("%d requests reached the server, want 6: %v", len(calls), calls)
	}
	for _, c := range calls {
		if !slices.Equal(c, ids(docs)) {
			t.Errorf("request %v, want the whole batch each time", c)
		}
	}
	if dlq.writes != 0 || st.Indexed != 5 {
		t.Errorf("dead letters %v, stats %+v", dlq.ids(), st)
	}
}

func TestIndexBatchRetriesIndexLevelErrors(t *testing.T) {
	blocked := func(r reply) script {
		return perDoc(func(call int, d bulkDoc) item {
			switch call {
			case 1:
				return item{403, "cluster_block_exception", "index [web_log-2026.11.05] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];"}
			case 2:
				return item{429, "cluster_block_exception", "index [web_log-2026.11.05] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark];"}
			case 3:
				return item{400, "index_closed_exception", "closed"}
			case 4:
				return item{404, "index_not_found_exception", "no such index [web_log-2026.11.05]"}
			case 5:
				return item{400, "illegal_argument_exception", "no write index is defined for alias [web_log]"}
			}
			return created
		})
	}
	srv := newFaultServer(t, blocked(reply{}))
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 4)
	dlq := &recordingDLQ{}

	if _, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog()); err != nil {
		t.Fatal(err)
	}
	if got := srv.storedIDs(); !slices.Equal(got, ids(docs)) {
		t.Errorf("stored %v, want all", got)
	}
	if n := len(srv.calls()); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
	if dlq.writes != 0 {
		t.Errorf("index-level errors were dead-lettered: %v", dlq.ids())
	}
}

func TestIndexBatchIsolatesPoisonFromMissingItems(t *testing.T) {
	for _, zinc := range []bool{true, false} {
		t.Run(fmt.Sprintf("zinc=%v", zinc), func(t *testing.T) {
			k, dlq, brokers := kafkaDLQ(t)
			poison := []string{"d05", "d06", "d13"}
			srv := newFaultServer(t, poisoned(zinc, poison...))
			cfg := testConfig(t, srv.URL, brokers)
			docs := testDocs(t, cfg, 20)

			st, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := srv.storedIDs(), without(ids(docs), poison...); !slices.Equal(got, want) {
				t.Errorf("stored %v, want %v", got, want)
			}
			calls := srv.calls()
			alone := map[string]int{}
			for _, c := range calls {
				if len(c) == 1 {
					alone[c[0]]++
				}
			}
			for _, p := range poison {
				if alone[p] != fastPolicy.MissingAttempts {
					t.Errorf("%s sent alone %d times, want %d", p, alone[p], fastPolicy.MissingAttempts)
				}
			}
			if len(calls) > 40 {
				t.Errorf("%d requests to isolate %d poison documents in 20: %v", len(calls), len(poison), calls)
			}
			t.Logf("%d requests, stats %+v", len(calls), st)

			recs := k.ReadAll(t, "web_log-dlq")
			var got []string
			for _, r := range recs {
				got = append(got, r.Headers["event.id"])
				if r.Headers[wire.HeaderErrorType] != "missing_from_bulk_response" || !strings.HasPrefix(r.Headers[wire.HeaderErrorReason], MissingReason) {
					t.Errorf("dead letter headers %v", r.Headers)
				}
				if zinc && !strings.Contains(r.Headers[wire.HeaderErrorReason], "can't convert to int") {
					t.Errorf("the engine's explanation is lost: %q", r.Headers[wire.HeaderErrorReason])
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, poison) {
				t.Errorf("dead letters %v, want %v", got, poison)
			}
		})
	}
}

func TestIndexBatchSplitsTooLargeRequests(t *testing.T) {
	srv := newFaultServer(t, func(_ int, docs []bulkDoc) reply {
		for _, d := range docs {
			if len(docs) > 3 || d.ID == "d02" {
				return reply{status: 413}
			}
		}
		return reply{}
	})
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 8)
	dlq := &recordingDLQ{}

	if _, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog()); err != nil {
		t.Fatal(err)
	}
	if got, want := srv.storedIDs(), without(ids(docs), "d02"); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	if got := dlq.ids(); !slices.Equal(got, []string{"d02"}) || dlq.letters[0].Type != "request_entity_too_large" {
		t.Errorf("dead letters %v %+v", got, dlq.letters)
	}
}

func TestIndexBatchRetriesDeadLetterWrites(t *testing.T) {
	srv := newFaultServer(t, perDoc(func(_ int, d bulkDoc) item {
		if d.ID == "d01" {
			return item{400, "mapper_parsing_exception", "bad"}
		}
		return created
	}))
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 3)

	dlq := &recordingDLQ{fail: 3}
	if _, err := fastPolicy.IndexBatch(t.Context(), newElastic(t, cfg), dlq, docs, quietLog()); err != nil {
		t.Fatal(err)
	}
	if dlq.writes != 4 || !slices.Equal(dlq.ids(), []string{"d01"}) {
		t.Errorf("%d writes, letters %v: want 3 failures then success", dlq.writes, dlq.ids())
	}

	// A DLQ that never recovers: IndexBatch must not report success.
	dlq = &recordingDLQ{fail: 1 << 30}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := fastPolicy.IndexBatch(ctx, newElastic(t, cfg), dlq, docs, quietLog()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline: nothing may be committed", err)
	}
	if dlq.writes < 2 {
		t.Errorf("%d dead-letter writes, want retries", dlq.writes)
	}
}

// cancelAfter is an Indexer that cancels a context once n bulk requests
// went to the real one: a barrier on attempts, not on time.
type cancelAfter struct {
	Indexer
	n      int
	cancel context.CancelFunc
	// probesCount: probes count as requests too.
	probesCount bool

	mu    sync.Mutex
	calls int
}

func (c *cancelAfter) Bulk(ctx context.Context, docs []Doc) ([]ItemResult, error) {
	items, err := c.Indexer.Bulk(ctx, docs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls++; c.calls == c.n {
		c.cancel()
	}
	return items, err
}

func (c *cancelAfter) Probe(ctx context.Context) error {
	err := c.Indexer.Probe(ctx)
	if c.probesCount {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.calls++; c.calls == c.n {
			c.cancel()
		}
	}
	return err
}

func (c *cancelAfter) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func TestIndexBatchStopsWithContext(t *testing.T) {
	srv := newFaultServer(t, func(int, []bulkDoc) reply { return reply{status: 503} })
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 3)
	dlq := &recordingDLQ{}

	// Retried while the engine fails, until the context ends.
	ctx, cancel := context.WithCancel(t.Context())
	idx := &cancelAfter{Indexer: newElastic(t, cfg), n: 3, cancel: cancel}
	if _, err := fastPolicy.IndexBatch(ctx, idx, dlq, docs, quietLog()); err == nil {
		t.Fatal("IndexBatch reported success for a batch the engine never stored")
	}
	if n := idx.requests(); n != 3 {
		t.Errorf("%d requests, want 3: retries until the context ended, none after", n)
	}

	// A context ending during a backoff of an hour ends the wait.
	ctx, cancel = context.WithCancel(t.Context())
	idx = &cancelAfter{Indexer: newElastic(t, cfg), n: 1, cancel: func() {}}
	done := make(chan error, 1)
	go func() {
		_, err := Policy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}.IndexBatch(ctx, idx, dlq, docs, quietLog())
		done <- err
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { return idx.requests() == 1 }, "the first attempt")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want the cancellation", err)
		}
	case <-time.After(30 * time.Second): // far below the hour a backoff blind to the context would take
		t.Fatal("IndexBatch still waiting out its backoff after the context ended")
	}
	if dlq.writes != 0 {
		t.Error("dead letters written for a down engine")
	}
}

// TestIndexBatchConnectionRefusedIsRetried: nothing listens; the batch is
// neither dropped nor resent: it waits, probing, until the context ends.
func TestIndexBatchConnectionRefusedIsRetried(t *testing.T) {
	srv := newFaultServer(t, allOK)
	url := srv.URL
	srv.Close() // nothing listens there now
	cfg := testConfig(t, url, nil)
	docs := testDocs(t, cfg, 2)
	ctx, cancel := context.WithCancel(t.Context())
	idx := &cancelAfter{Indexer: newElastic(t, cfg), n: 3, cancel: cancel, probesCount: true}
	st, err := fastPolicy.IndexBatch(ctx, idx, &recordingDLQ{}, docs, quietLog())
	if err == nil || st.Requests != 1 {
		t.Errorf("error %v after %d bulk requests, want one, then probes until the context ended", err, st.Requests)
	}
}

// TestIndexBatchProbesAnEngineThatDoesNotAnswer: while the engine hangs up
// on everything, the batch is sent once and then only probes go out; once
// the engine answers a probe, the batch is sent again and stored.
func TestIndexBatchProbesAnEngineThatDoesNotAnswer(t *testing.T) {
	srv := newFaultServer(t, allOK)
	srv.setDown(true)
	cfg := testConfig(t, srv.URL, nil)
	es := newElastic(t, cfg)
	docs := testDocs(t, cfg, 5)
	done := make(chan error, 1)
	go func() {
		_, err := fastPolicy.IndexBatch(t.Context(), es, &recordingDLQ{}, docs, quietLog())
		done <- err
	}()
	testenv.Eventually(t, 10*time.Second, func() bool { return srv.hungUp(http.MethodHead, "/") >= 5 }, "probes of the down engine")
	if n := srv.hungUp(http.MethodPost, "/_bulk"); n != 1 {
		t.Errorf("%d bulk requests while the engine was down, want 1, then probes only", n)
	}
	srv.setDown(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := srv.storedIDs(); !slices.Equal(got, ids(docs)) {
		t.Errorf("stored %v, want all", got)
	}
}

func TestBackoff(t *testing.T) {
	p := Policy{}.withDefaults()
	if p.InitialBackoff != 100*time.Millisecond || p.MaxBackoff != 30*time.Second || p.MissingAttempts != 3 || p.ProbeInterval != 2*time.Second {
		t.Errorf("defaults %+v", p)
	}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 5: 1600 * time.Millisecond, 10: 30 * time.Second, 1000: 30 * time.Second} {
		for range 50 {
			if d := p.backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}
