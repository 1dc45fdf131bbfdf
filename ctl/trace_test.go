package ctl

import (
	"testing"

	"github.com/IBM/sarama"
)

func TestTraceHelpers(t *testing.T) {
	if off, err := offsetOfID("6c9f2b41d0a3e8570000000000001000"); err != nil || off != 0x1000 {
		t.Errorf("offset of an id: %d, %v", off, err)
	}
	if _, err := offsetOfID("nothex"); err == nil {
		t.Error("a bad id decoded")
	}
	// The agent's partitioner is sarama's hash partitioner.
	hp := sarama.NewHashPartitioner("web_log")
	for _, key := range []string{"web1/var/log/a.log", "db-7/srv/x.log", "h", "web-12/var/log/nginx/access.log"} {
		for _, n := range []int32{1, 3, 12} {
			want, err := hp.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if p := partitionOf(key, int(n)); err != nil || p != want {
				t.Errorf("partition of %q among %d = %d, sarama says %d", key, n, p, want)
			}
		}
	}
	if number(1234567) != "1,234,567" || number(12) != "12" {
		t.Error("number")
	}
}
