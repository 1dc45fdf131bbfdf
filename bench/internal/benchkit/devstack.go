package benchkit

import (
	"context"
	"net"
	"path/filepath"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/internal/proc"
)

// StartDevstack launches the devstack binary bin on free ports with the
// topics (each with partitions partitions), its data in dir/devstack and its
// log in dir/devstack.log, and returns once it serves.
func StartDevstack(ctx context.Context, bin, dir string, topics []string, partitions int) (*proc.Devstack, error) {
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	return proc.StartDevstack(ctx, proc.DevstackConfig{
		Bin:            bin,
		EtcdClientPort: ports[0], EtcdPeerPort: ports[1], KafkaPort: ports[2],
		Topics: topics, Partitions: partitions,
		DataDir: filepath.Join(dir, "devstack"),
		LogPath: filepath.Join(dir, "devstack.log"),
		Timeout: 90 * time.Second,
	})
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
