package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// Devstack is a running cmd/devstack child: an embedded etcd and a kfake
// Kafka broker on free ports of 127.0.0.1.
type Devstack struct {
	Proc          *Proc
	EtcdEndpoints []string
	KafkaBrokers  []string
}

// StartDevstack launches the devstack binary bin with the topics (each with
// partitions partitions), its data in dir/devstack and its log in
// dir/devstack.log, and returns once its ready file names this child.
func StartDevstack(ctx context.Context, bin, dir string, topics []string, partitions int) (*Devstack, error) {
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "devstack")
	readyPath := filepath.Join(dataDir, "ready")
	logPath := filepath.Join(dir, "devstack.log")
	p, err := Start("devstack", logPath, Options{}, bin,
		"-etcd-client-port", strconv.Itoa(ports[0]), "-etcd-peer-port", strconv.Itoa(ports[1]),
		"-kafka-port", strconv.Itoa(ports[2]), "-partitions", strconv.Itoa(partitions),
		"-topics", strings.Join(topics, ","), "-data", dataDir)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		vars, err := readReadyFile(readyPath)
		if err == nil && vars["DEVSTACK_PID"] == strconv.Itoa(p.Pid()) {
			return &Devstack{
				Proc:          p,
				EtcdEndpoints: strings.Split(vars["ETCD_ENDPOINTS"], ","),
				KafkaBrokers:  strings.Split(vars["KAFKA_BROKERS"], ","),
			}, nil
		}
		if p.Exited() {
			return nil, fmt.Errorf("devstack exited before it was ready (%v):\n%s", p.Err(), TailFile(logPath, 4000))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.Stop(syscall.SIGKILL, 5*time.Second)
			return nil, fmt.Errorf("devstack not ready after 90s (or interrupted):\n%s", TailFile(logPath, 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts devstack down gracefully (it closes kfake and etcd), killing it
// if that takes too long.
func (d *Devstack) Stop() error {
	return d.Proc.Stop(syscall.SIGTERM, 20*time.Second)
}

// readReadyFile reads devstack's ready file: KEY=VALUE lines.
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

// KafkaConfig is the sarama configuration of a bench's own Kafka clients
// (counting records, reading offsets): sarama's defaults at the Kafka version
// kfake speaks, 2.8.
func KafkaConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = clientID
	return cfg
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when picked; another process could take one before the child binds it
// (then that child fails to start and the bench says so).
func FreePorts(n int) ([]int, error) {
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
