//go:build e2e

package transfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/internal/testenv"
	"github.com/logagent/logagent/transfer"
)

// pipeline is a real Kafka-protocol broker and a real search engine.
type pipeline struct {
	kafka *testenv.Kafka
	zinc  *testenv.Zinc
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	return &pipeline{
		kafka: testenv.StartKafka(t, testenv.Topics("web_log", "web_log-dlq"), testenv.KafkaPersistent()),
		zinc:  testenv.StartZinc(t),
	}
}

func (p *pipeline) transferConfig(t *testing.T) *conf.Transfer {
	t.Helper()
	cfg := &conf.Transfer{
		Kafka:          conf.Kafka{Brokers: p.kafka.Brokers()},
		SessionTimeout: 2 * time.Second,
		Elasticsearch:  conf.Elasticsearch{URLs: []string{p.zinc.URL()}, Username: p.zinc.User(), Password: conf.Secret(p.zinc.Password())},
		Batch:          conf.Batch{MaxDocs: 500, MaxWait: 100 * time.Millisecond},
		Parse:          map[string]string{"web_log": "nginx"},
		HTTPListen:     "off",
	}
	if err := cfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runAgent puts collectConfig (JSON) in a fresh etcd for host e2e-host and
// runs an agent in this process, its state under dir, until the test ends.
func (p *pipeline) runAgent(t *testing.T, dir, collectConfig string) {
	t.Helper()
	et := testenv.StartEtcd(t)
	acfg := &conf.Agent{HostID: "e2e-host", StateDir: filepath.Join(dir, "state"), HTTPListen: "off",
		Kafka: conf.Kafka{Brokers: p.kafka.Brokers()}, Etcd: conf.Etcd{Endpoints: et.Endpoints()},
		Files: conf.Files{RescanInterval: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond}}
	if err := acfg.SetDefaultsAndValidate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := et.Client(t).Put(ctx, etcd.CollectKey("/logagent/", "e2e-host"), collectConfig); err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.New(acfg, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), agent.Options{}).Run(actx, nil)
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
}

// runningTransfer is a transfer in this process.
type runningTransfer struct {
	metrics *transfer.Metrics
	logged  *logCounter
	cancel  context.CancelFunc
	done    chan error
}

func startTransfer(t *testing.T, cfg *conf.Transfer) *runningTransfer {
	t.Helper()
	out := io.Discard
	if testing.Verbose() {
		out = os.Stderr
	}
	counter := &logCounter{counts: map[string]int{}}
	log := slog.New(countingHandler{slog.NewTextHandler(out, nil), counter})
	m := transfer.NewMetrics(prometheus.NewRegistry())
	tr, err := transfer.New(cfg, m, log, transfer.Options{}) // the daemon's retry policy
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &runningTransfer{metrics: m, logged: counter, cancel: cancel, done: make(chan error, 1)}
	go func() { rt.done <- tr.Run(ctx, nil) }()
	t.Cleanup(func() { rt.stop(t) })
	return rt
}

func (rt *runningTransfer) stop(t *testing.T) {
	if rt.cancel == nil {
		return
	}
	rt.cancel()
	rt.cancel = nil
	select {
	case err := <-rt.done:
		if err != nil {
			t.Errorf("transfer stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("transfer did not stop within 30s")
	}
}

// What IndexBatch logs when a bulk request fails (it retries), and when a
// batch the engine left unanswered starts probing it: a batch stuck on a
// down engine logs at least two of them.
const (
	sessionStarted = "consumer group session started"
	bulkFailed     = "bulk request failed; retrying"
	engineProbed   = "search engine not answering; probing it until it does"
)

// logCounter counts a logger's records by message: an event count a test
// can wait for (the transfer's metrics move only when a batch is done).
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[msg]
}

// countingHandler counts every record in its logCounter and passes the
// ones next is enabled for on to it.
type countingHandler struct {
	next    slog.Handler
	counter *logCounter
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.counter.mu.Lock()
	h.counter.counts[r.Message]++
	h.counter.mu.Unlock()
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.next.WithAttrs(as), h.counter}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.next.WithGroup(name), h.counter}
}

// committedUnindexed returns the records of web_log below their
// partition's committed offset (consumer group group) whose documents are
// not among indexed (id → copies). A committed offset says everything
// before it is stored; any record returned breaks that.
func committedUnindexed(t *testing.T, k *testenv.Kafka, group string, indexed map[string]int) []testenv.Record {
	t.Helper()
	committed := k.Committed(t, group, "web_log")
	var out []testenv.Record
	for _, r := range k.ReadAll(t, "web_log") {
		if r.Offset < committed[r.Partition] && indexed[r.Headers["event.id"]] == 0 {
			out = append(out, r)
		}
	}
	return out
}

// requireCommitsIndexed fails unless every record below a committed offset
// has its document in indexed, the engine's content while it is down.
func requireCommitsIndexed(t *testing.T, k *testenv.Kafka, group string, indexed map[string]int) {
	t.Helper()
	if bad := committedUnindexed(t, k, group, indexed); len(bad) > 0 {
		t.Fatal(describeUnindexed(t, k, group, bad))
	}
}

// requireCommitsSearchable is requireCommitsIndexed against the running
// engine, polled: a stored document becomes searchable a moment later.
func requireCommitsSearchable(t *testing.T, p *pipeline, group string) {
	t.Helper()
	var bad []testenv.Record
	if !testenv.Within(15*time.Second, func() bool {
		bad = committedUnindexed(t, p.kafka, group, p.zinc.IDs(t, "web_log-*"))
		return len(bad) == 0
	}) {
		t.Fatal(describeUnindexed(t, p.kafka, group, bad))
	}
}

func describeUnindexed(t *testing.T, k *testenv.Kafka, group string, bad []testenv.Record) string {
	return fmt.Sprintf("%d records committed but not in the engine, first %s/%d/%d (id %s); committed %v",
		len(bad), bad[0].Topic, bad[0].Partition, bad[0].Offset, bad[0].Headers["event.id"], k.Committed(t, group, "web_log"))
}

// requireAllCommitted waits until group committed every partition of
// web_log to its end: the transfer is done and says so durably.
func requireAllCommitted(t *testing.T, k *testenv.Kafka, group string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() bool {
		committed := k.Committed(t, group, "web_log")
		for p, end := range k.EndOffsets(t, "web_log") {
			if end > 0 && committed[p] != end {
				return false
			}
		}
		return true
	}, "every partition committed to its end")
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// nginxLines returns n access-log lines, distinct by request path.
func nginxLines(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `10.1.%d.%d - - [26/Nov/2026:10:00:00 +0000] "GET /%s/%d HTTP/1.1" %d 512 "-" "test-agent"`,
			i/250%250, i%250, prefix, i, 200+i%3*100)
	}
	return out
}

// produceEnvelopes sends lines as the agent would (same envelope, ids and
// headers), through a sync producer. The path is the origin too: one path,
// one id space.
func produceEnvelopes(t *testing.T, k *testenv.Kafka, path string, lines [][]byte) {
	t.Helper()
	values, ids := agent.EncodeEnvelopes("e2e-host", path, path, time.Now(), lines)
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(k.Brokers(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(values))
	for i := range values {
		msgs[i] = &sarama.ProducerMessage{Topic: "web_log", Key: sarama.StringEncoder("e2e-host" + path), Value: sarama.ByteEncoder(values[i]),
			Headers: []sarama.RecordHeader{{Key: []byte("event.id"), Value: ids[i]}, {Key: []byte("format"), Value: []byte("envelope")}}}
	}
	for len(msgs) > 0 {
		n := min(len(msgs), 1000)
		if err := p.SendMessages(msgs[:n]); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

// requireExactlyOnce fails unless the engine holds exactly want documents,
// each id once.
func requireExactlyOnce(t *testing.T, z *testenv.Zinc, want int) {
	t.Helper()
	requireOnceAcross(t, want, z)
}

// requireOnceAcross fails unless the engines together hold exactly want
// documents, each id once in all of them.
func requireOnceAcross(t *testing.T, want int, engines ...*testenv.Zinc) {
	t.Helper()
	ids := map[string]int{}
	for _, z := range engines {
		for id, n := range z.IDs(t, "web_log-*") {
			ids[id] += n
		}
	}
	dups := 0
	for _, n := range ids {
		dups += n - 1
	}
	if len(ids) != want || dups != 0 {
		t.Fatalf("%d distinct ids (want %d), %d duplicates", len(ids), want, dups)
	}
}

func writeTransferYAML(t *testing.T, p *pipeline, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "transfer.yaml")
	transferFile{brokers: p.kafka.Brokers()[0], esURL: p.zinc.URL(), user: p.zinc.User(), password: p.zinc.Password()}.write(t, path)
	return path
}

// transferFile is a transfer.yaml for a transfer process under test.
type transferFile struct {
	brokers, esURL, user string
	password             string // as written: a literal, file:… or env:…
	batch                string // default {max_docs: 500, max_wait: 100ms}
	httpListen           string // default off
	sessionTimeout       string // default 2s
	extra                string // more top-level YAML lines
}

func (f transferFile) write(t *testing.T, path string) {
	t.Helper()
	if f.batch == "" {
		f.batch = "{max_docs: 500, max_wait: 100ms}"
	}
	if f.httpListen == "" {
		f.httpListen = "off"
	}
	if f.sessionTimeout == "" {
		f.sessionTimeout = "2s"
	}
	yaml := fmt.Sprintf(`kafka:
  brokers: [%q]
session_timeout: %s
elasticsearch:
  urls: [%q]
  username: %s
  password: %q
batch: %s
http_listen: %q
%s`, f.brokers, f.sessionTimeout, f.esURL, f.user, f.password, f.batch, f.httpListen, f.extra)
	writeFile(t, path, yaml)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// produceRaw sends one hand-made envelope (its event.id header taken from
// the value's event.id).
func produceRaw(t *testing.T, k *testenv.Kafka, value string) {
	t.Helper()
	var ev struct {
		Event struct{ ID string } `json:"event"`
	}
	if err := json.Unmarshal([]byte(value), &ev); err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(k.Brokers(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "web_log", Value: sarama.StringEncoder(value),
		Headers: []sarama.RecordHeader{{Key: []byte("event.id"), Value: []byte(ev.Event.ID)}, {Key: []byte("format"), Value: []byte("envelope")}}})
	if err != nil {
		t.Fatal(err)
	}
}
