package benchkit

import (
	"context"
	"net"
	"path/filepath"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/internal/proc"
)

// Devstack says how a bench's devstack child runs.
type Devstack struct {
	Topics     []string
	Partitions int
	// KafkaMemory keeps records in memory: no fsync per produce request, so
	// the broker is not what a client benchmark measures; lost on a stop.
	KafkaMemory bool
	// Ports reuses the ports of an earlier run (a restart); nil picks free ones.
	Ports []int
}

// StartDevstack launches the devstack binary bin as d says, its data in
// dir/devstack and its log in dir/devstack.log, and returns once it serves.
func StartDevstack(ctx context.Context, bin, dir string, d Devstack) (*proc.Devstack, []int, error) {
	ports := d.Ports
	if ports == nil {
		var err error
		if ports, err = FreePorts(3); err != nil {
			return nil, nil, err
		}
	}
	stack, err := proc.StartDevstack(ctx, proc.DevstackConfig{
		Bin:            bin,
		EtcdClientPort: ports[0], EtcdPeerPort: ports[1], KafkaPort: ports[2],
		Topics: d.Topics, Partitions: d.Partitions, KafkaMemory: d.KafkaMemory,
		DataDir: filepath.Join(dir, "devstack"),
		LogPath: filepath.Join(dir, "devstack.log"),
		Timeout: 90 * time.Second,
	})
	return stack, ports, err
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
