package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/conf"
)

// logFile is one simulated log file: its path is the agent's origin and,
// with the host id, the message key that picks the partition.
type logFile struct {
	path      string
	partition int32
	lines     int
}

// pickFiles chooses perPartition file paths for each partition, so that the
// hash partitioner (the agent's: key host+path) spreads the files evenly,
// and splits n lines over them as evenly as possible.
func pickFiles(topic string, partitions, perPartition, n int) ([]logFile, error) {
	hp := sarama.NewHashPartitioner(topic)
	taken := make([]int, partitions)
	var files []logFile
	for i := 0; len(files) < partitions*perPartition; i++ {
		if i > 10000 {
			return nil, fmt.Errorf("could not spread %d files over %d partitions", partitions*perPartition, partitions)
		}
		path := fmt.Sprintf("/var/log/nginx/site%02d/access.log", i)
		part, err := hp.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(hostID + path)}, int32(partitions))
		if err != nil {
			return nil, err
		}
		if taken[part] < perPartition {
			taken[part]++
			files = append(files, logFile{path: path, partition: part})
		}
	}
	for i := range files {
		files[i].lines = n / len(files)
		if i < n%len(files) {
			files[i].lines++
		}
	}
	return files, nil
}

// prefillStats is what the pre-fill produced.
type prefillStats struct {
	messages     int
	valueBytes   int64
	lineBytes    int64
	perPartition []int64
	seconds      float64
	sampleIDs    []string // early event ids of each file
}

// prefill sends every file's lines as the agent's envelopes (built with the
// agent's own encoder: same value, event ids, key and headers) through a
// sarama AsyncProducer with the project's Kafka defaults (snappy, acks all,
// idempotent), waits for every ack and checks the partitions' high
// watermarks.
func prefill(ctx context.Context, brokers []string, topic string, partitions int, files []logFile, stamp time.Time) (prefillStats, error) {
	st := prefillStats{perPartition: make([]int64, partitions)}
	gen := benchkit.NewNginxLines()
	headerEventID, headerFormat, format := []byte("event.id"), []byte("format"), []byte("envelope")
	perFile := make([][]*sarama.ProducerMessage, len(files))
	for fi, f := range files {
		lines := make([][]byte, f.lines)
		for i := range lines {
			lines[i] = gen.Append(nil)
			st.lineBytes += int64(len(lines[i]))
		}
		values, ids := agent.EncodeEnvelopes(hostID, f.path, f.path, stamp, lines)
		if len(ids) > 0 {
			// Early documents: searchable soon after the runs' first bulks.
			for _, i := range []int{0, len(ids) / 100, len(ids) / 20} {
				st.sampleIDs = append(st.sampleIDs, string(ids[i]))
			}
		}
		key := sarama.ByteEncoder(hostID + f.path)
		for i := range values {
			perFile[fi] = append(perFile[fi], &sarama.ProducerMessage{Topic: topic, Key: key, Value: sarama.ByteEncoder(values[i]),
				Headers: []sarama.RecordHeader{{Key: headerEventID, Value: ids[i]}, {Key: headerFormat, Value: format}}})
			st.valueBytes += int64(len(values[i]))
		}
		st.perPartition[f.partition] += int64(f.lines)
	}
	// The files are written at the same time, as an agent tailing them
	// would send them: interleaved in runs of 100 lines.
	var msgs []*sarama.ProducerMessage
	for left := true; left; {
		left = false
		for fi := range perFile {
			k := min(100, len(perFile[fi]))
			msgs = append(msgs, perFile[fi][:k]...)
			perFile[fi] = perFile[fi][k:]
			left = left || len(perFile[fi]) > 0
		}
	}
	st.messages = len(msgs)

	tc := conf.Transfer{Kafka: conf.Kafka{Brokers: brokers, ClientID: "transferbench-prefill"}}
	if err := tc.SetDefaultsAndValidate(); err != nil {
		return st, err
	}
	sc, err := tc.Kafka.Sarama()
	if err != nil {
		return st, err
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	p, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		return st, fmt.Errorf("producer: %w", err)
	}
	defer p.Close()
	var errs atomic.Int64
	allAcked := make(chan struct{})
	go func() {
		acked := 0
		for range p.Successes() {
			if acked++; acked == len(msgs) {
				close(allAcked)
			}
		}
	}()
	go func() {
		for perr := range p.Errors() {
			if errs.Add(1) > 1000 {
				continue // give up re-sending: the wait below times out
			}
			m := perr.Msg
			go func() { p.Input() <- m }()
		}
	}()
	t0 := time.Now()
	go func() {
		for _, m := range msgs {
			select {
			case p.Input() <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-allAcked:
	case <-ctx.Done():
		return st, fmt.Errorf("pre-fill: %w (%d send errors)", ctx.Err(), errs.Load())
	case <-time.After(2 * time.Minute):
		return st, fmt.Errorf("pre-fill: not every message acknowledged within 2m (%d send errors)", errs.Load())
	}
	st.seconds = time.Since(t0).Seconds()
	if n := errs.Load(); n > 0 {
		prog.Logf("pre-fill: %d messages were re-sent after errors", n)
	}

	// Exactly the expected number in each partition (an idempotent producer
	// does not duplicate on re-send).
	hw, err := highWatermarks(brokers, topic)
	if err != nil {
		return st, err
	}
	for part, want := range st.perPartition {
		if hw[int32(part)] != want {
			return st, fmt.Errorf("pre-fill: partition %d holds %d messages, want %d (all: %v)", part, hw[int32(part)], want, hw)
		}
	}
	return st, nil
}

// highWatermarks returns each partition's high watermark.
func highWatermarks(brokers []string, topic string) (map[int32]int64, error) {
	cl, err := sarama.NewClient(brokers, benchkit.KafkaConfig("transferbench-counter"))
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	parts, err := cl.Partitions(topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, p := range parts {
		off, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		out[p] = off
	}
	return out, nil
}
