package testenv

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// newSyncProducer returns a producer and its idempotent close function,
// also registered with t.Cleanup (sarama panics on a second Close).
func newSyncProducer(t *testing.T, brokers []string) (sarama.SyncProducer, func()) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("new sync producer: %v", err)
	}
	closeFn := sync.OnceFunc(func() { _ = p.Close() })
	t.Cleanup(closeFn)
	return p, closeFn
}

type sent struct {
	partition int32
	offset    int64
}

// produce sends n messages "<prefix>-i" and returns where each landed.
func produce(t *testing.T, p sarama.SyncProducer, topic, prefix string, n int) map[string]sent {
	t.Helper()
	out := make(map[string]sent, n)
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		part, off, err := p.SendMessage(&sarama.ProducerMessage{
			Topic:   topic,
			Key:     sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
			Value:   sarama.StringEncoder(v),
			Headers: []sarama.RecordHeader{{Key: []byte("event.id"), Value: []byte("id-" + v)}},
		})
		if err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
		out[v] = sent{part, off}
	}
	return out
}

func TestKafkaProduceAndReadAll(t *testing.T) {
	k := StartKafka(t, Topics("web_log", "other"))
	if got := k.Count(t, "web_log"); got != 0 {
		t.Fatalf("Count on a new topic = %d, want 0", got)
	}
	if recs := k.ReadAll(t, "web_log"); len(recs) != 0 {
		t.Fatalf("ReadAll on a new topic returned %d records", len(recs))
	}

	p, _ := newSyncProducer(t, k.Brokers())
	before := time.Now().Add(-time.Second)
	want := produce(t, p, "web_log", "line", 30)

	if got := k.Count(t, "web_log"); got != 30 {
		t.Errorf("Count = %d, want 30", got)
	}
	if got := k.Count(t, "other"); got != 0 {
		t.Errorf("Count(other) = %d, want 0", got)
	}
	recs := k.ReadAll(t, "web_log")
	if len(recs) != len(want) {
		t.Fatalf("ReadAll returned %d records, want %d", len(recs), len(want))
	}
	partitions := map[int32]bool{}
	for i, r := range recs {
		v := string(r.Value)
		w, ok := want[v]
		if !ok {
			t.Fatalf("unexpected record value %q", v)
		}
		delete(want, v)
		if r.Partition != w.partition || r.Offset != w.offset {
			t.Errorf("%s at %d/%d, producer said %d/%d", v, r.Partition, r.Offset, w.partition, w.offset)
		}
		if got := r.Headers["event.id"]; got != "id-"+v {
			t.Errorf("%s: header event.id = %q", v, got)
		}
		if len(r.Key) == 0 || r.Topic != "web_log" || r.Timestamp.Before(before) {
			t.Errorf("%s: key %q topic %q timestamp %v", v, r.Key, r.Topic, r.Timestamp)
		}
		if i > 0 && (recs[i-1].Partition > r.Partition ||
			recs[i-1].Partition == r.Partition && recs[i-1].Offset >= r.Offset) {
			t.Errorf("records not sorted by partition and offset at index %d", i)
		}
		partitions[r.Partition] = true
	}
	if len(partitions) != 3 {
		t.Errorf("records spread over partitions %v, want all 3", partitions)
	}
}

func TestKafkaRestartWithDataDirKeepsData(t *testing.T) {
	k := StartKafka(t, Topics("web_log"), KafkaPersistent())
	brokers := k.Brokers()

	p, closeP := newSyncProducer(t, brokers)
	first := produce(t, p, "web_log", "before", 10)
	closeP()

	k.Stop()
	if c, err := net.DialTimeout("tcp", brokers[0], time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("broker %s still accepts connections after Stop", brokers[0])
	}
	k.Restart(t)
	if got := k.Brokers(); !slices.Equal(got, brokers) {
		t.Fatalf("brokers after restart %v, want %v", got, brokers)
	}
	if got := k.Count(t, "web_log"); got != 10 {
		t.Fatalf("Count after restart = %d, want 10", got)
	}

	p, _ = newSyncProducer(t, brokers)
	second := produce(t, p, "web_log", "after", 5)

	recs := k.ReadAll(t, "web_log")
	if len(recs) != len(first)+len(second) {
		t.Fatalf("ReadAll returned %d records, want %d", len(recs), len(first)+len(second))
	}
	// Offsets must continue after the restart, not start again at 0.
	next := map[int32]int64{}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Errorf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition] = r.Offset + 1
		w, ok := first[string(r.Value)]
		if !ok {
			w, ok = second[string(r.Value)]
		}
		if !ok || w.partition != r.Partition || w.offset != r.Offset {
			t.Errorf("record %q at %d/%d does not match what was produced (%v)", r.Value, r.Partition, r.Offset, w)
		}
	}
}

func TestKafkaRestartWithoutDataDirRecreatesTopics(t *testing.T) {
	k := StartKafka(t, Topics("web_log"), Partitions(1))
	p, closeP := newSyncProducer(t, k.Brokers())
	produce(t, p, "web_log", "lost", 3)
	closeP()

	k.Restart(t)
	if got := k.Count(t, "web_log"); got != 0 {
		t.Fatalf("Count after restart without data dir = %d, want 0", got)
	}
	p, _ = newSyncProducer(t, k.Brokers())
	if got := produce(t, p, "web_log", "new", 1)["new-0"]; got != (sent{0, 0}) {
		t.Fatalf("first record after restart landed at %v, want partition 0 offset 0", got)
	}
}

// Committed reads what a group committed, per partition, and nothing for a
// partition the group never committed.
func TestKafkaCommitted(t *testing.T) {
	k := StartKafka(t, Topics("web_log"))
	if got := k.Committed(t, "g", "web_log"); len(got) != 0 {
		t.Fatalf("before any commit: %v", got)
	}
	// Below 4.1 a commit names its topic, not the topic's id.
	cl, err := kgo.NewClient(k.clientOpts(kgo.MaxVersions(kversion.V4_0_0()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = "g", -1 // a commit outside any group session
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "web_log"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 1, 7
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
	if got := k.Committed(t, "g", "web_log"); len(got) != 1 || got[1] != 7 {
		t.Fatalf("committed %v, want partition 1 at 7", got)
	}
}
