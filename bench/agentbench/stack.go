package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// moduleRoot is the main module's directory (where go.mod is).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the logagent module (run from its directory)")
	}
	return filepath.Dir(gomod), nil
}

// buildBinaries builds logagent and devstack into binDir.
func buildBinaries(ctx context.Context, root, binDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir+string(os.PathSeparator), "./cmd/logagent", "./cmd/devstack")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when picked; another process could take one before devstack binds it (then
// devstack fails to start and the bench says so).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// stack is a running devstack.
type stack struct {
	proc          *proc
	logPath       string
	etcdEndpoints []string
	kafkaBrokers  []string
}

// startStack launches devstack with the topics and waits for its ready file.
func startStack(ctx context.Context, bin, dir string, topics []string, partitions int) (*stack, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "devstack")
	readyPath := filepath.Join(dataDir, "ready")
	logPath := filepath.Join(dir, "devstack.log")
	p, err := startProc("devstack", logPath, nil, false, nil, bin,
		"-etcd-client-port", strconv.Itoa(ports[0]), "-etcd-peer-port", strconv.Itoa(ports[1]),
		"-kafka-port", strconv.Itoa(ports[2]), "-partitions", strconv.Itoa(partitions),
		"-topics", strings.Join(topics, ","), "-data", dataDir)
	if err != nil {
		return nil, err
	}
	s := &stack{proc: p, logPath: logPath}
	brokerProc = p
	deadline := time.Now().Add(90 * time.Second)
	for {
		vars, err := readReadyFile(readyPath)
		if err == nil && vars["DEVSTACK_PID"] == strconv.Itoa(p.cmd.Process.Pid) {
			s.etcdEndpoints = strings.Split(vars["ETCD_ENDPOINTS"], ",")
			s.kafkaBrokers = strings.Split(vars["KAFKA_BROKERS"], ",")
			return s, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("devstack exited before it was ready (%v):\n%s", p.waitErr, tailFile(logPath, 4000))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.stop(syscall.SIGKILL, 5*time.Second)
			return nil, fmt.Errorf("devstack not ready after 90s (or interrupted):\n%s", tailFile(logPath, 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readReadyFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	return vars, sc.Err()
}

// stop shuts devstack down gracefully (it closes kfake and etcd), killing it
// if that takes too long.
func (s *stack) stop() error {
	return s.proc.stop(syscall.SIGTERM, 20*time.Second)
}

// counter reads how many records a topic holds: the sum of its partitions'
// high watermarks, in one ListOffsets request per leader.
type counter struct {
	client sarama.Client
}

func newCounter(brokers []string) (*counter, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "agentbench-counter"
	cl, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &counter{client: cl}, nil
}

func (c *counter) close() { _ = c.client.Close() }

func (c *counter) count(topic string) (int64, error) {
	parts, err := c.client.Partitions(topic)
	if err != nil {
		return 0, err
	}
	reqs := map[*sarama.Broker]*sarama.OffsetRequest{}
	for _, p := range parts {
		b, err := c.client.Leader(topic, p)
		if err != nil {
			return 0, err
		}
		if reqs[b] == nil {
			reqs[b] = sarama.NewOffsetRequest(c.client.Config().Version)
		}
		reqs[b].AddBlock(topic, p, sarama.OffsetNewest, 1)
	}
	var n int64
	for b, req := range reqs {
		resp, err := b.GetAvailableOffsets(req)
		if err != nil {
			return 0, err
		}
		for _, blocks := range resp.Blocks {
			for _, blk := range blocks {
				if blk.Err != sarama.ErrNoError {
					return 0, blk.Err
				}
				n += blk.Offset
			}
		}
	}
	return n, nil
}

// progress is what polling a run's topic observed.
type progress struct {
	first      time.Time     // first record visible
	atFirst    int64         // records visible then
	cpuAtFirst time.Duration // the child's CPU then
	done       time.Time     // every record visible
	cpuAtDone  time.Duration
	// The broker's (devstack's) CPU at first and done.
	brokerAtFirst, brokerAtDone time.Duration
}

// brokerProc is devstack, whose CPU waitForRecords samples too.
var brokerProc *proc

const pollInterval = 10 * time.Millisecond

// waitForRecords polls topic until it holds base+n records, sampling p's CPU
// when the first record shows up and when the last one does.
func waitForRecords(ctx context.Context, c *counter, topic string, base, n int64, p *proc) (progress, error) {
	var pr progress
	var last int64
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		got, err := c.count(topic)
		now := time.Now()
		if err != nil {
			return pr, fmt.Errorf("count %s: %w", topic, err)
		}
		got -= base
		last = got
		if got > 0 && pr.first.IsZero() {
			pr.first, pr.atFirst = now, got
			pr.cpuAtFirst, _ = p.cpuSoFar()
			if brokerProc != nil {
				pr.brokerAtFirst, _ = brokerProc.cpuSoFar()
			}
		}
		if got >= n {
			pr.done = now
			pr.cpuAtDone, err = p.cpuSoFar()
			if brokerProc != nil {
				pr.brokerAtDone, _ = brokerProc.cpuSoFar()
			}
			return pr, err
		}
		if p.exited() {
			return pr, fmt.Errorf("%s exited (%v) with %d of %d records in %s", p.name, p.waitErr, got, n, topic)
		}
		select {
		case <-ctx.Done():
			return pr, fmt.Errorf("%s: %d of %d records in %s: %w", p.name, last, n, topic, ctx.Err())
		case <-t.C:
		}
	}
}

// firstRecord reads the first record of the topic's first non-empty
// partition, to show what a run actually sent.
func (c *counter) firstRecord(topic string) (*sarama.ConsumerMessage, error) {
	parts, err := c.client.Partitions(topic)
	if err != nil {
		return nil, err
	}
	cons, err := sarama.NewConsumerFromClient(c.client)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	for _, p := range parts {
		newest, err := c.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		if newest == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		select {
		case m := <-pc.Messages():
			return m, nil
		case cerr := <-pc.Errors():
			return nil, cerr
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("no record from %s/%d within 10s", topic, p)
		}
	}
	return nil, fmt.Errorf("%s is empty", topic)
}
