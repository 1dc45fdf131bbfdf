// Command devstack runs the local development stand-ins logagent talks to:
// an embedded etcd and kfake, a Kafka-protocol broker (not Apache Kafka).
// It serves the demo and multi-process tests that kill -9 the agent.
//
// When both services answer it writes <data>/ready, a file of shell
// assignments (ETCD_ENDPOINTS, KAFKA_BROKERS, KAFKA_TOPICS, DEVSTACK_PID)
// that scripts can poll for and source. devstack removes a stale file when it
// starts, but a script that polls right after launching may still see one a
// killed run left behind: delete it before launching, or compare
// DEVSTACK_PID. SIGINT or SIGTERM removes the file, closes the clients, then
// kfake, then etcd, and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/client/pkg/v3/logutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long each service may take to come up.
const startTimeout = time.Minute

// errUsage reports a flag error the flag package has already printed.
var errUsage = errors.New("usage error")

type config struct {
	etcdClientPort int
	etcdPeerPort   int
	kafkaPort      int
	partitions     int
	topics         []string
	dataDir        string
	// kafkaMemory keeps kfake's records in memory only: no fsync per
	// produce request, as a benchmark of the client side wants.
	kafkaMemory bool
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))

	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "devstack: %v\n", err)
		}
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, stop, cfg); err != nil {
		slog.Error("devstack failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var (
		cfg    config
		topics string
	)
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.IntVar(&cfg.etcdClientPort, "etcd-client-port", 2379, "etcd client port on 127.0.0.1")
	fs.IntVar(&cfg.etcdPeerPort, "etcd-peer-port", 2380, "etcd peer port on 127.0.0.1")
	fs.IntVar(&cfg.kafkaPort, "kafka-port", 9092, "kfake broker port on 127.0.0.1")
	fs.IntVar(&cfg.partitions, "partitions", 3, "partitions per created topic")
	fs.StringVar(&topics, "topics", "web_log", "comma-separated topics to create explicitly")
	fs.StringVar(&cfg.dataDir, "data", ".demo/devstack", "data directory (etcd/ and kafka/ below it, plus the ready file)")
	fs.BoolVar(&cfg.kafkaMemory, "kafka-memory", false, "keep Kafka records in memory only (lost when devstack stops; no fsync per produce request)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage // the flag package has printed the error and usage
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	for name, p := range map[string]int{
		"-etcd-client-port": cfg.etcdClientPort,
		"-etcd-peer-port":   cfg.etcdPeerPort,
		"-kafka-port":       cfg.kafkaPort,
	} {
		if p < 1 || p > 65535 {
			return cfg, fmt.Errorf("%s: %d is not a port", name, p)
		}
	}
	if cfg.etcdClientPort == cfg.etcdPeerPort || cfg.etcdClientPort == cfg.kafkaPort || cfg.etcdPeerPort == cfg.kafkaPort {
		return cfg, errors.New("-etcd-client-port, -etcd-peer-port and -kafka-port must differ")
	}
	if cfg.partitions < 1 {
		return cfg, fmt.Errorf("-partitions: %d, want at least 1", cfg.partitions)
	}
	for _, t := range strings.Split(topics, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(cfg.topics, t) {
			cfg.topics = append(cfg.topics, t)
		}
	}
	if len(cfg.topics) == 0 {
		return cfg, errors.New("-topics: at least one topic is required")
	}
	if cfg.dataDir == "" {
		return cfg, errors.New("-data: must not be empty")
	}
	return cfg, nil
}

// run starts both services, reports readiness and blocks until ctx ends
// (a signal) or etcd fails. stopSignals restores default signal handling,
// so a second Ctrl-C during shutdown kills the process.
func run(ctx context.Context, stopSignals func(), cfg config) error {
	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	readyPath := filepath.Join(cfg.dataDir, "ready")
	// A ready file left by a killed devstack would fool scripts polling for it.
	if err := removeIfExists(readyPath); err != nil {
		return err
	}

	// Deferred in reverse: clients close first, then kfake, then etcd. An
	// etcd client with an open watch makes etcd's Close take seconds.
	etcdLogLevel := zap.NewAtomicLevelAt(zap.ErrorLevel)
	etcd, err := startEtcd(ctx, cfg, etcdLogLevel)
	if err != nil {
		return err
	}
	defer func() {
		// etcd reports each of its listeners closing as an error
		// ("setting up serving from embedded etcd failed"): noise here.
		etcdLogLevel.SetLevel(zap.FatalLevel)
		etcd.Close()
		slog.Info("etcd stopped")
	}()
	etcdEndpoint := fmt.Sprintf("127.0.0.1:%d", cfg.etcdClientPort)
	if err := checkEtcd(ctx, etcdEndpoint); err != nil {
		return err
	}

	kafka, err := startKfake(cfg)
	if err != nil {
		return err
	}
	defer func() {
		kafka.Close()
		slog.Info("kfake stopped")
	}()
	kafkaBroker := fmt.Sprintf("127.0.0.1:%d", cfg.kafkaPort)
	kafkaClient, err := kgo.NewClient(kgo.SeedBrokers(kafkaBroker))
	if err != nil {
		return fmt.Errorf("new kafka client: %w", err)
	}
	defer kafkaClient.Close()
	topicParts, err := ensureTopics(ctx, kafkaClient, cfg.topics, int32(cfg.partitions))
	if err != nil {
		return err
	}

	// These two lines are the interface for humans; logs go to stderr.
	fmt.Printf("etcd   %s  embedded etcd %s (development stand-in), data %s\n",
		etcdEndpoint, version.Version, filepath.Join(cfg.dataDir, "etcd"))
	kafkaData := filepath.Join(cfg.dataDir, "kafka")
	if cfg.kafkaMemory {
		kafkaData = "in memory"
	}
	fmt.Printf("kafka  %s  kfake (Kafka-protocol dev broker, not Apache Kafka), topics %s, data %s\n",
		kafkaBroker, strings.Join(topicParts, " "), kafkaData)

	ready := fmt.Sprintf("ETCD_ENDPOINTS=%s\nKAFKA_BROKERS=%s\nKAFKA_TOPICS=%s\nDEVSTACK_PID=%d\n",
		etcdEndpoint, kafkaBroker, strings.Join(cfg.topics, ","), os.Getpid())
	if err := writeFileAtomic(readyPath, []byte(ready)); err != nil {
		return err
	}
	defer func() {
		// Remove it first so pollers do not use services that are going away.
		if err := removeIfExists(readyPath); err != nil {
			slog.Warn("remove ready file", "err", err)
		}
	}()
	slog.Info("devstack ready", "ready_file", readyPath)

	select {
	case <-ctx.Done():
		stopSignals()
		slog.Info("shutting down")
		return nil
	case err := <-etcd.Err():
		return fmt.Errorf("etcd failed: %w", err)
	case <-etcd.Server.StopNotify():
		return errors.New("etcd stopped unexpectedly")
	}
}

// etcdLogger writes etcd's errors to stderr in etcd's own JSON format, at a
// level the caller can raise later.
func etcdLogger(level zap.AtomicLevel) (*zap.Logger, error) {
	zc := logutil.DefaultZapLoggerConfig
	zc.Level = level
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	lg, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("build etcd logger: %w", err)
	}
	return lg, nil
}

func startEtcd(ctx context.Context, cfg config, logLevel zap.AtomicLevel) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = "devstack"
	ec.Dir = filepath.Join(cfg.dataDir, "etcd")
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cfg.etcdClientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", cfg.etcdPeerPort)}
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	ec.ListenPeerUrls = []url.URL{peerURL}
	ec.AdvertisePeerUrls = []url.URL{peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	lg, err := etcdLogger(logLevel)
	if err != nil {
		return nil, err
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start etcd on %s (peer %s): %w", clientURL.Host, peerURL.Host, err)
	}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed while starting: %w", err)
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("etcd not ready after %v", startTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("interrupted while etcd was starting: %w", ctx.Err())
	}
}

// checkEtcd proves the client port serves requests, not just that the
// server reported ready internally.
func checkEtcd(ctx context.Context, endpoint string) error {
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(), // errors come back as values; we log those
	})
	if err != nil {
		return fmt.Errorf("new etcd client for %s: %w", endpoint, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if _, err := cl.Status(ctx, endpoint); err != nil {
		return fmt.Errorf("etcd status on %s: %w", endpoint, err)
	}
	return nil
}

func startKfake(cfg config) (*kfake.Cluster, error) {
	opts := []kfake.Opt{
		kfake.Ports(cfg.kafkaPort),
		kfake.DefaultNumPartitions(cfg.partitions),
		// Allows consumer groups with a 2 s session, so a killed consumer's
		// partitions move in ~2 s instead of kfake's 6 s minimum.
		kfake.GroupMinSessionTimeout(time.Second),
		// A topic first named in a collect config is created on first use,
		// as a default Apache Kafka does (auto.create.topics.enable), so
		// the demo's live-change step works for a new topic. Unlike the
		// demo's own topics, such a topic loses its data on a kill -9.
		kfake.AllowAutoTopicCreation(),
		kfake.WithLogger(kfakeLogger{slog.Default().With("component", "kfake")}),
	}
	if !cfg.kafkaMemory {
		// Explicitly created topics in a data dir with synchronous writes
		// keep every acknowledged record across a kill -9 of devstack.
		opts = append(opts, kfake.DataDir(filepath.Join(cfg.dataDir, "kafka")), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kfake on 127.0.0.1:%d: %w", cfg.kafkaPort, err)
	}
	return c, nil
}

// ensureTopics creates the topics (keeping ones that exist from an earlier
// run) and returns "name/partitions" for each, as the broker reports them.
func ensureTopics(ctx context.Context, cl *kgo.Client, topics []string, partitions int32) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(startTimeout / time.Millisecond)
	for _, name := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = name
		rt.NumPartitions = partitions
		rt.ReplicationFactor = -1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("create topic %q: %w", rt.Topic, err)
		}
	}

	// Report the real partition counts: a topic kept from an earlier run
	// may have a different count than -partitions.
	meta := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, mt)
	}
	metaResp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("topic metadata: %w", err)
	}
	var out []string
	for _, mt := range metaResp.Topics {
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
			return nil, fmt.Errorf("metadata for topic %q: %w", *mt.Topic, err)
		}
		if n := int32(len(mt.Partitions)); n != partitions {
			slog.Warn("topic kept from an earlier run has a different partition count",
				"topic", *mt.Topic, "partitions", n, "requested", partitions)
		}
		out = append(out, *mt.Topic+"/"+strconv.Itoa(len(mt.Partitions)))
	}
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// kfakeLogger forwards kfake's errors to slog; its warnings are routine
// request failures such as clients disconnecting.
type kfakeLogger struct{ l *slog.Logger }

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	if level == kfake.LogLevelError {
		k.l.Error(fmt.Sprintf(format, args...))
	}
}
