package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyFile is the file devstack writes below its data dir once it serves:
// KEY=VALUE lines with ETCD_ENDPOINTS, KAFKA_BROKERS and DEVSTACK_PID.
const readyFile = "ready"

// DevstackConfig is how to start cmd/devstack: an embedded etcd and a kfake
// Kafka broker, the stand-ins of make demo and the benchmarks.
type DevstackConfig struct {
	Bin                                     string // the devstack binary
	EtcdClientPort, EtcdPeerPort, KafkaPort int
	Topics                                  []string
	Partitions                              int
	DataDir                                 string // etcd/, kafka/ and the ready file below it
	KafkaMemory                             bool   // kfake keeps records in memory only (no fsync per produce)
	LogPath                                 string
	Timeout                                 time.Duration // to wait for the ready file
}

// Devstack is a running devstack child, ready to serve.
type Devstack struct {
	Process       *Process
	EtcdEndpoints []string
	KafkaBrokers  []string
}

// StartDevstack starts devstack and returns once its ready file names this
// child. If it exits, does not get ready within Timeout or ctx ends first, it
// is killed and the error says why, with the end of its log.
func StartDevstack(ctx context.Context, c DevstackConfig) (*Devstack, error) {
	p, err := Start("devstack", c.LogPath, Options{}, c.Bin,
		"-etcd-client-port", strconv.Itoa(c.EtcdClientPort), "-etcd-peer-port", strconv.Itoa(c.EtcdPeerPort),
		"-kafka-port", strconv.Itoa(c.KafkaPort), "-topics", strings.Join(c.Topics, ","),
		"-partitions", strconv.Itoa(c.Partitions), "-data", c.DataDir, "-kafka-memory="+strconv.FormatBool(c.KafkaMemory))
	if err != nil {
		return nil, err
	}
	readyPath := filepath.Join(c.DataDir, readyFile)
	deadline := time.NewTimer(c.Timeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		// DEVSTACK_PID tells this child's file from one a killed run left.
		vars, err := readReadyFile(readyPath)
		if err == nil && vars["DEVSTACK_PID"] == strconv.Itoa(p.Pid()) {
			return &Devstack{
				Process:       p,
				EtcdEndpoints: strings.Split(vars["ETCD_ENDPOINTS"], ","),
				KafkaBrokers:  strings.Split(vars["KAFKA_BROKERS"], ","),
			}, nil
		}
		select {
		case <-p.Done():
			return nil, p.Died()
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-deadline.C:
			p.Kill()
			return nil, fmt.Errorf("devstack not ready after %v; the end of %s:\n%s", c.Timeout, c.LogPath, Tail(c.LogPath, 3000))
		case <-poll.C:
		}
	}
}

// readReadyFile reads devstack's ready file: KEY=VALUE lines.
func readReadyFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			vars[k] = v
		}
	}
	return vars, nil
}

// RunningDevstack returns the pid of a live devstack that wrote the ready
// file in dataDir, or 0. Starting a second one on the same data would wipe
// the first one's files from under it.
func RunningDevstack(dataDir string) int {
	vars, err := readReadyFile(filepath.Join(dataDir, readyFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(vars["DEVSTACK_PID"])
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	// The pid may have been reused by something else since a crash.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err == nil && !bytes.Contains(cmdline, []byte("devstack")) {
		return 0
	}
	return pid
}
