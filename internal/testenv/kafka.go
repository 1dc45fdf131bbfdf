package testenv

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaOpTimeout bounds every admin or read operation against the broker, so
// a broken broker fails the test with a message instead of hanging it.
const kafkaOpTimeout = 30 * time.Second

// Record is one Kafka record as read back by (*Kafka).ReadAll.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers holds the record headers; for a repeated key the last one wins.
	Headers   map[string]string
	Timestamp time.Time
}

// KafkaOption configures StartKafka.
type KafkaOption func(*kafkaConfig)

type kafkaConfig struct {
	brokers    int
	partitions int32
	topics     []string
	persistent bool
	dataDir    string // set by StartKafka when persistent
	extra      []kfake.Opt
	sasl       *kafkaSASL
	tls        *tls.Config // the helpers' own clients' TLS, when the broker serves TLS
}

type kafkaSASL struct{ mechanism, user, pass string }

// KafkaSASL makes the broker require SASL (PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512) with one superuser; the helpers' own clients log in as it.
func KafkaSASL(mechanism, user, pass string) KafkaOption {
	return func(c *kafkaConfig) {
		c.sasl = &kafkaSASL{mechanism, user, pass}
		c.extra = append(c.extra, kfake.EnableSASL(), kfake.Superuser(mechanism, user, pass))
	}
}

// KafkaTLS makes the broker serve TLS only, with the certificate of
// files; the helpers' own clients trust its CA.
func KafkaTLS(t testing.TB, files TLSFiles) KafkaOption {
	server, client := files.ServerConfig(t), files.ClientConfig(t)
	return func(c *kafkaConfig) {
		c.tls = client
		c.extra = append(c.extra, kfake.TLS(server))
	}
}

// clientOpts are the options of every client the helpers make.
func (k *Kafka) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(k.addrs...)}, extra...)
	if k.cfg.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(k.cfg.tls))
	}
	if s := k.cfg.sasl; s != nil {
		switch s.mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: s.user, Pass: s.pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.user, Pass: s.pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.user, Pass: s.pass}.AsSha512Mechanism()))
		}
	}
	return opts
}

// Topics creates the named topics explicitly (CreateTopics) with the default
// partition count. Explicit creation matters: kfake loses the data of topics
// auto-created through Metadata when it is killed, and StartKafka does not
// enable auto-creation at all, so every topic a test uses must be listed.
func Topics(names ...string) KafkaOption {
	return func(c *kafkaConfig) { c.topics = append(c.topics, names...) }
}

// Partitions sets the partition count for the topics of Topics and for
// topics created with -1 partitions (default 3).
func Partitions(n int32) KafkaOption {
	return func(c *kafkaConfig) { c.partitions = n }
}

// KafkaBrokers sets the number of brokers (default 1). Partition leaders are
// spread over them; LeadAll moves a topic's.
func KafkaBrokers(n int) KafkaOption {
	return func(c *kafkaConfig) { c.brokers = n }
}

// KafkaPersistent makes the broker keep its state in a fresh t.TempDir()
// with synchronous writes, so it survives Stop and Restart.
func KafkaPersistent() KafkaOption {
	return func(c *kafkaConfig) { c.persistent = true }
}

// KafkaFakeOptions passes extra options to kfake.NewCluster (applied last,
// so they override ours), e.g. kfake.BrokerConfigs or kfake.EnableSASL.
func KafkaFakeOptions(opts ...kfake.Opt) KafkaOption {
	return func(c *kafkaConfig) { c.extra = append(c.extra, opts...) }
}

// Kafka is an in-process kfake cluster listening on 127.0.0.1. Its broker
// addresses stay the same across Stop and Restart.
type Kafka struct {
	cfg   kafkaConfig
	addrs []string
	ports []int

	mu      sync.Mutex
	cluster *kfake.Cluster // nil while stopped
	client  *kgo.Client    // admin client for Count and ReadAll, created lazily
}

// StartKafka starts a kfake cluster (1 broker unless KafkaBrokers, 3
// partitions per topic, group
// minimum session timeout 1 s) on random 127.0.0.1 ports, creates the topics
// given by Topics and stops the cluster when the test ends.
func StartKafka(t testing.TB, opts ...KafkaOption) *Kafka {
	t.Helper()
	cfg := kafkaConfig{brokers: 1, partitions: 3}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.brokers < 1 {
		t.Fatalf("testenv: StartKafka: need at least 1 broker, got %d", cfg.brokers)
	}
	if cfg.partitions < 1 {
		t.Fatalf("testenv: StartKafka: need at least 1 partition, got %d", cfg.partitions)
	}
	if cfg.persistent {
		cfg.dataDir = t.TempDir()
	}

	k := &Kafka{cfg: cfg}
	// Brokers on FreePorts, not port 0: Restart binds the same ports again,
	// and ones from the ephemeral range may be taken meanwhile.
	for attempt := 1; ; attempt++ {
		ports := make([]int, cfg.brokers)
		for i := range ports {
			ports[i] = FreePort(t)
		}
		err := k.start(ports)
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("testenv: start kfake: %v", err)
		}
	}
	t.Cleanup(k.Close)
	if err := k.ensureTopics(); err != nil {
		t.Fatalf("testenv: create kafka topics %v: %v", cfg.topics, err)
	}
	return k
}

func (k *Kafka) start(ports []int) error {
	opts := []kfake.Opt{
		kfake.Ports(ports...),
		kfake.DefaultNumPartitions(int(k.cfg.partitions)),
		// Lets consumer-group tests use a 2 s session and take over in ~2 s
		// instead of kfake's 6 s minimum.
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.WithLogger(kfakeLogger{slog.Default().With("component", "kfake")}),
	}
	if k.cfg.dataDir != "" {
		opts = append(opts, kfake.DataDir(k.cfg.dataDir), kfake.SyncWrites())
	}
	opts = append(opts, k.cfg.extra...)

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("new kfake cluster: %w", err)
	}
	addrs := c.ListenAddrs()
	ports = ports[:0:0]
	for _, a := range addrs {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			c.Close()
			return fmt.Errorf("parse kfake address %q: %w", a, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			c.Close()
			return fmt.Errorf("parse kfake port %q: %w", a, err)
		}
		ports = append(ports, n)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	k.cluster, k.addrs, k.ports = c, addrs, ports
	return nil
}

// ensureTopics creates the configured topics, accepting ones that already
// exist (after a restart from a data dir).
func (k *Kafka) ensureTopics() error {
	return k.createTopics(k.cfg.topics)
}

// CreateTopics creates topics while the broker runs (one a test had missing
// until now).
func (k *Kafka) CreateTopics(t testing.TB, names ...string) {
	t.Helper()
	if err := k.createTopics(names); err != nil {
		t.Fatal(err)
	}
}

func (k *Kafka) createTopics(names []string) error {
	if len(names) == 0 {
		return nil
	}
	cl, err := k.adminClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(kafkaOpTimeout / time.Millisecond)
	for _, name := range names {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = name
		rt.NumPartitions = k.cfg.partitions
		rt.ReplicationFactor = -1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topics request: %w", err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", rt.Topic, err)
		}
	}
	return nil
}

// LeadAll makes broker node (0 to KafkaBrokers-1) the leader of every
// partition of topic, so that topic's produce requests go to that broker
// alone.
func (k *Kafka) LeadAll(t testing.TB, topic string, node int32) {
	t.Helper()
	c := k.runningCluster(t)
	for p := range k.cfg.partitions {
		if err := c.MoveTopicPartition(topic, p, node); err != nil {
			t.Fatalf("testenv: move %s/%d to broker %d: %v", topic, p, node, err)
		}
	}
}

// Brokers returns the broker addresses ("127.0.0.1:port"), stable across
// Stop and Restart.
func (k *Kafka) Brokers() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.addrs)
}

// Stop closes the cluster gracefully, as a broker outage: clients get
// connection refused until Restart. Without a data dir all data is lost.
// Stopping a stopped cluster does nothing.
func (k *Kafka) Stop() {
	k.mu.Lock()
	c, cl := k.cluster, k.client
	k.cluster, k.client = nil, nil
	k.mu.Unlock()

	if cl != nil {
		cl.Close()
	}
	if c != nil {
		c.Close()
	}
}

// Restart starts the cluster again on the same ports (stopping it first if
// it runs) and re-creates the configured topics. With a data dir, records,
// topics and committed offsets survive.
func (k *Kafka) Restart(t testing.TB) {
	t.Helper()
	k.Stop()

	k.mu.Lock()
	ports := slices.Clone(k.ports)
	k.mu.Unlock()
	if err := k.start(ports); err != nil {
		t.Fatalf("testenv: restart kfake on ports %v: %v", ports, err)
	}
	if err := k.ensureTopics(); err != nil {
		t.Fatalf("testenv: re-create kafka topics after restart: %v", err)
	}
}

// Close stops the cluster and releases the admin client. StartKafka
// registers it with t.Cleanup; calling it again is harmless.
func (k *Kafka) Close() { k.Stop() }

func (k *Kafka) adminClient() (*kgo.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cluster == nil {
		return nil, errors.New("kafka is stopped")
	}
	if k.client != nil {
		return k.client, nil
	}
	cl, err := kgo.NewClient(k.clientOpts()...)
	if err != nil {
		return nil, fmt.Errorf("new kafka admin client: %w", err)
	}
	k.client = cl
	return cl, nil
}

// Count returns the sum of the topic's partition high watermarks: the number
// of records ever written to it (nothing is deleted in these tests). Call it
// from the test goroutine; it fails the test on error.
func (k *Kafka) Count(t testing.TB, topic string) int64 {
	t.Helper()
	var n int64
	for _, o := range k.EndOffsets(t, topic) {
		n += o
	}
	return n
}

// EndOffsets returns the high watermark of every partition of topic: the
// offset a consumer that read and committed everything commits.
func (k *Kafka) EndOffsets(t testing.TB, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()
	_, end, err := k.offsets(ctx, topic)
	if err != nil {
		t.Fatalf("testenv: end offsets of %q: %v", topic, err)
	}
	return end
}

// ReadAll reads every partition of topic from its oldest offset up to the
// high watermark seen when it was called, with its own franz-go client
// (independent of the sarama code under test), and returns the records
// sorted by partition and offset. It assumes no transactional producers (a
// trailing commit marker would never be seen as a record).
func (k *Kafka) ReadAll(t testing.TB, topic string) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()

	start, end, err := k.offsets(ctx, topic)
	if err != nil {
		t.Fatalf("testenv: read %q: %v", topic, err)
	}
	from := make(map[int32]kgo.Offset)
	next := make(map[int32]int64) // next offset we still need per partition
	for p, e := range end {
		if e > start[p] {
			from[p] = kgo.NewOffset().At(start[p])
			next[p] = start[p]
		}
	}
	if len(from) == 0 {
		return nil
	}

	cl, err := kgo.NewClient(k.clientOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(250*time.Millisecond),
	)...)
	if err != nil {
		t.Fatalf("testenv: new kafka reader: %v", err)
	}
	defer cl.Close()

	var out []Record
	pending := len(next)
	for pending > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("testenv: read %q: %v before reaching the high watermarks %v (next offsets %v)", topic, err, end, next)
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("testenv: read %q partition %d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end[r.Partition] {
				return // written after ReadAll started
			}
			out = append(out, toRecord(r))
			wasPending := next[r.Partition] < end[r.Partition]
			next[r.Partition] = r.Offset + 1
			if wasPending && next[r.Partition] >= end[r.Partition] {
				pending--
			}
		})
	}
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out
}

// Committed returns the offsets consumer group committed for topic, by
// partition; a partition without a commit is absent. It asks the group
// coordinator, as a new group member would, so it sees what survives a
// crash of the consumer.
func (k *Kafka) Committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	cl, err := k.adminClient()
	if err != nil {
		t.Fatalf("testenv: committed offsets of %q: %v", group, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range k.cfg.partitions {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	out := map[int32]int64{}
	if errors.Is(err, kerr.GroupIDNotFound) { // kfake's answer before a group's first commit
		return out
	}
	if err != nil {
		t.Fatalf("testenv: committed offsets of %q: %v", group, err)
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				t.Fatalf("testenv: committed offset of %q for %s/%d: %v", group, rt.Topic, p.Partition, err)
			}
			if p.Offset >= 0 { // -1: nothing committed
				out[p.Partition] = p.Offset
			}
		}
	}
	return out
}

func toRecord(r *kgo.Record) Record {
	rec := Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	if len(r.Headers) > 0 {
		rec.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			rec.Headers[h.Key] = string(h.Value)
		}
	}
	return rec
}

// offsets returns the log start and end (high watermark) offset of every
// partition of topic.
func (k *Kafka) offsets(ctx context.Context, topic string) (start, end map[int32]int64, err error) {
	cl, err := k.adminClient()
	if err != nil {
		return nil, nil, err
	}

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	metaResp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	if len(metaResp.Topics) != 1 {
		return nil, nil, fmt.Errorf("metadata: %d topics in response, want 1", len(metaResp.Topics))
	}
	mtr := metaResp.Topics[0]
	if err := kerr.ErrorForCode(mtr.ErrorCode); err != nil {
		return nil, nil, fmt.Errorf("metadata for topic %q: %w", topic, err)
	}
	partitions := make([]int32, 0, len(mtr.Partitions))
	for _, p := range mtr.Partitions {
		partitions = append(partitions, p.Partition)
	}

	// Kafka's special timestamps: -2 asks for the log start, -1 for the
	// high watermark.
	if start, err = listOffsets(ctx, cl, topic, partitions, -2); err != nil {
		return nil, nil, fmt.Errorf("list start offsets: %w", err)
	}
	if end, err = listOffsets(ctx, cl, topic, partitions, -1); err != nil {
		return nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	return start, end, nil
}

func listOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions []int32, timestamp int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = timestamp
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	// kgo splits the request per partition leader and merges the answers.
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(partitions))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
			}
			out[p.Partition] = p.Offset
		}
	}
	if len(out) != len(partitions) {
		return nil, fmt.Errorf("got offsets for %d of %d partitions", len(out), len(partitions))
	}
	return out, nil
}

// kfakeLogger forwards kfake's errors to slog; its warnings are routine
// request failures (clients going away) and would drown test output.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	if level == kfake.LogLevelError {
		k.l.Error(fmt.Sprintf(format, args...))
	}
}
