package main

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/internal/proc"
)

// counter reads how many records a topic holds: the sum of its partitions'
// high watermarks, in one ListOffsets request per leader.
type counter struct {
	client sarama.Client
}

func newCounter(brokers []string) (*counter, error) {
	cl, err := sarama.NewClient(brokers, benchkit.KafkaConfig("agentbench-counter"))
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
	total      int64         // records waited for
	first      time.Time     // first record visible
	atFirst    int64         // records visible then
	cpuAtFirst time.Duration // the child's CPU then
	done       time.Time     // every record visible
	cpuAtDone  time.Duration
	// The broker's (devstack's) CPU at first and done.
	brokerAtFirst, brokerAtDone time.Duration
}

const pollInterval = 10 * time.Millisecond

// waitForRecords polls topic until it holds base+n records, sampling p's CPU
// (and the broker's, if not nil) when the first record shows up and when the
// last one does.
func waitForRecords(ctx context.Context, c *counter, topic string, base, n int64, p, broker *proc.Process) (progress, error) {
	pr := progress{total: n}
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
			pr.cpuAtFirst, _ = p.CPUSoFar()
			if broker != nil {
				pr.brokerAtFirst, _ = broker.CPUSoFar()
			}
		}
		if got >= n {
			pr.done = now
			pr.cpuAtDone, err = p.CPUSoFar()
			if broker != nil {
				pr.brokerAtDone, _ = broker.CPUSoFar()
			}
			return pr, err
		}
		if p.Exited() {
			return pr, fmt.Errorf("%s exited (%v) with %d of %d records in %s", p.Name, p.Err(), got, n, topic)
		}
		select {
		case <-ctx.Done():
			return pr, fmt.Errorf("%s: %d of %d records in %s: %w", p.Name, last, n, topic, ctx.Err())
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
