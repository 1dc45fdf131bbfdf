package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
	"github.com/logagent/logagent/transfer"
)

// childArgs are the flags of the -child modes.
type childArgs struct {
	config     *string
	cpuprofile *string
}

func registerChildFlags() childArgs {
	return childArgs{
		config:     flag.String("config", "", "internal (-child): a transfer.yaml"),
		cpuprofile: flag.String("cpuprofile", "", "internal (-child): write a CPU profile here"),
	}
}

// bareStart is the bare child's first stdout line, printed just before its
// first bulk request.
type bareStart struct {
	Event      string  `json:"event"` // "start"
	UnixNano   int64   `json:"unix_nano"`
	Docs       int     `json:"docs"`
	Batches    int     `json:"batches"`
	PerPart    []int   `json:"per_partition"`
	PrepareSec float64 `json:"prepare_seconds"` // read from Kafka and convert
	SourceAvg  float64 `json:"source_avg_bytes"`
}

// bareReport is its second and last line, when every bulk is acknowledged.
type bareReport struct {
	Event          string `json:"event"` // "done"
	StartUnixNano  int64  `json:"start_unix_nano"`
	FirstAckNano   int64  `json:"first_ack_unix_nano"` // the first bulk acknowledged
	AtFirstAck     int64  `json:"docs_at_first_ack"`
	DoneUnixNano   int64  `json:"done_unix_nano"` // the last bulk acknowledged
	CPUNanos       int64  `json:"cpu_ns"`         // getrusage(SELF), start to done
	CPUAtFirstAck  int64  `json:"cpu_at_first_ack_ns"`
	Docs           int64  `json:"docs"`
	Requests       int64  `json:"requests"`
	MaxBatchMillis int64  `json:"max_batch_ms"`
	BatchNanos     int64  `json:"batch_ns"` // sum of the bulk requests' durations
}

// runBareChild is the bare bulk load. It reads the topic back from Kafka,
// converts every message with transfer.NewConverter under the same config
// as the transfer (the index name aside), cuts each partition's documents
// into batches exactly as the transfer's ConsumeClaim does (max_docs,
// max_bytes of message values), installs the same index template, and then
// sends the batches with transfer.NewElastic's Bulk: one goroutine per
// partition, one batch at a time each, the transfer's concurrency.
func runBareChild(a childArgs) error {
	cfg, err := conf.LoadTransfer(*a.config)
	if err != nil {
		return err
	}
	if len(cfg.Topics) != 1 {
		return fmt.Errorf("want one topic, config has %v", cfg.Topics)
	}
	topic := cfg.Topics[0]
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := cli.SignalContext()
	defer stop()

	prepStart := time.Now()
	conv, err := transfer.NewConverter(cfg)
	if err != nil {
		return err
	}
	idx, err := transfer.NewElastic(cfg, log)
	if err != nil {
		return err
	}
	parts, err := readTopic(cfg, topic)
	if err != nil {
		return err
	}
	var batches [][][]transfer.Doc // partition → batch → docs
	start := bareStart{Event: "start"}
	var sourceBytes int64
	for _, msgs := range parts {
		var pb [][]transfer.Doc
		var cur []transfer.Doc
		size := 0
		for _, m := range msgs {
			d := conv.Document(m)
			sourceBytes += int64(len(d.Source))
			cur = append(cur, d)
			size += len(m.Value)
			if len(cur) >= cfg.Batch.MaxDocs || size >= int(cfg.Batch.MaxBytes) {
				pb, cur, size = append(pb, cur), nil, 0
			}
		}
		if len(cur) > 0 {
			pb = append(pb, cur)
		}
		batches = append(batches, pb)
		start.Batches += len(pb)
		start.Docs += len(msgs)
		start.PerPart = append(start.PerPart, len(msgs))
	}
	parts = nil
	if start.Docs == 0 {
		return errors.New("the topic is empty")
	}
	start.SourceAvg = float64(sourceBytes) / float64(start.Docs)
	if err := idx.PutTemplate(ctx, topic, conv.FieldTypes(topic)); err != nil {
		return err
	}
	start.PrepareSec = time.Since(prepStart).Seconds()

	runtime.GC()
	stopProfile, err := cli.StartCPUProfile(*a.cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	enc := json.NewEncoder(os.Stdout)
	cpu0 := benchkit.SelfCPU()
	t0 := time.Now()
	start.UnixNano = t0.UnixNano()
	if err := enc.Encode(start); err != nil {
		return err
	}

	var (
		acked, requests, maxBatch, batchNanos atomic.Int64
		firstOnce                             sync.Once
		rep                                   = bareReport{Event: "done", StartUnixNano: t0.UnixNano()}
		wg                                    sync.WaitGroup
		errMu                                 sync.Mutex
		firstErr                              error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, pb := range batches {
		wg.Go(func() {
			for _, docs := range pb {
				bt := time.Now()
				res, err := idx.Bulk(ctx, docs)
				requests.Add(1)
				if err == nil {
					err = checkBulk(docs, res)
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					cancel()
					return
				}
				n := acked.Add(int64(len(docs)))
				batchNanos.Add(time.Since(bt).Nanoseconds())
				if ms := time.Since(bt).Milliseconds(); ms > maxBatch.Load() {
					maxBatch.Store(ms) // racy max: good enough for a note
				}
				firstOnce.Do(func() {
					rep.FirstAckNano, rep.AtFirstAck = time.Now().UnixNano(), n
					rep.CPUAtFirstAck = (benchkit.SelfCPU() - cpu0).Nanoseconds()
				})
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	rep.DoneUnixNano = time.Now().UnixNano()
	rep.CPUNanos = (benchkit.SelfCPU() - cpu0).Nanoseconds()
	rep.Docs, rep.Requests, rep.MaxBatchMillis, rep.BatchNanos = acked.Load(), requests.Load(), maxBatch.Load(), batchNanos.Load()
	if err := enc.Encode(rep); err != nil {
		return err
	}
	stopProfile()
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent has sampled this process's CPU
	return nil
}

// checkBulk requires an answer for every document, each a success.
func checkBulk(docs []transfer.Doc, res []transfer.ItemResult) error {
	if len(res) != len(docs) {
		return fmt.Errorf("bulk of %d documents: %d answered", len(docs), len(res))
	}
	for i, r := range res {
		if r.Status < 200 || r.Status > 299 {
			return fmt.Errorf("bulk item %d (%s): status %d %s: %s", i, docs[i].ID, r.Status, r.Type, r.Reason)
		}
	}
	return nil
}

// readTopic reads every message of the topic (up to the high watermarks at
// the start) with the transfer's Kafka client settings, partition by
// partition in offset order.
func readTopic(cfg *conf.Transfer, topic string) ([][]*sarama.ConsumerMessage, error) {
	sc, err := cfg.Kafka.Sarama()
	if err != nil {
		return nil, err
	}
	cl, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	consumer, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	ids, err := cl.Partitions(topic)
	if err != nil {
		return nil, err
	}
	out := make([][]*sarama.ConsumerMessage, len(ids))
	for i, p := range ids {
		hw, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		if hw == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		msgs := make([]*sarama.ConsumerMessage, 0, hw)
		timeout := time.After(2 * time.Minute)
		for int64(len(msgs)) < hw {
			select {
			case m := <-pc.Messages():
				msgs = append(msgs, m)
			case cerr := <-pc.Errors():
				pc.Close()
				return nil, cerr
			case <-timeout:
				pc.Close()
				return nil, fmt.Errorf("read %s/%d: %d of %d messages after 2m", topic, p, len(msgs), hw)
			}
		}
		pc.Close()
		out[i] = msgs
	}
	return out, nil
}
