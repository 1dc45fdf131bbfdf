package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/IBM/sarama"
)

// kafkaView reads the demo topic: how many records it holds, and one record
// to show.
type kafkaView struct {
	client sarama.Client
}

func newKafkaView(brokers []string) (*kafkaView, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "logdemo"
	// Short timeouts: a progress line that waits 30 s for a dead broker
	// would look like a hang.
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 1
	cl, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	return &kafkaView{client: cl}, nil
}

func (k *kafkaView) close() { _ = k.client.Close() }

// count is the sum of the topic's partition high watermarks: every record
// ever acknowledged into it (the topic starts empty in each run).
func (k *kafkaView) count() (int64, error) {
	parts, err := k.client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	var n int64
	for _, p := range parts {
		hw, err := k.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, fmt.Errorf("high watermark of %s/%d: %w", topic, p, err)
		}
		n += hw
	}
	return n, nil
}

// latest reads the newest record of the fullest partition, so the sample is
// a line that was written moments ago.
func (k *kafkaView) latest(ctx context.Context) (*sarama.ConsumerMessage, error) {
	parts, err := k.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	best, bestHW := int32(-1), int64(0)
	for _, p := range parts {
		hw, err := k.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("high watermark of %s/%d: %w", topic, p, err)
		}
		if hw > bestHW {
			best, bestHW = p, hw
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("%s is empty", topic)
	}
	cons, err := sarama.NewConsumerFromClient(k.client)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	defer cons.Close() // closes the consumer only; the client stays open
	pc, err := cons.ConsumePartition(topic, best, bestHW-1)
	if err != nil {
		return nil, fmt.Errorf("consume %s/%d at %d: %w", topic, best, bestHW-1, err)
	}
	defer pc.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case m := <-pc.Messages():
		return m, nil
	case err := <-pc.Errors():
		return nil, fmt.Errorf("consume %s/%d: %w", topic, best, err)
	case <-t.C:
		return nil, fmt.Errorf("no record from %s/%d within 5s", topic, best)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// formatMessage renders a record for people: key, headers, and the value
// as indented JSON (or as text for the raw format).
func formatMessage(m *sarama.ConsumerMessage) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s partition %d offset %d\n", m.Topic, m.Partition, m.Offset)
	fmt.Fprintf(&b, "  key      %s\n", printable(m.Key))
	var hs []string
	for _, h := range m.Headers {
		hs = append(hs, printable(h.Key)+"="+printable(h.Value))
	}
	fmt.Fprintf(&b, "  headers  %s\n", strings.Join(hs, "  "))
	var pretty bytes.Buffer
	if json.Indent(&pretty, m.Value, "  ", "  ") == nil {
		fmt.Fprintf(&b, "  value\n  %s\n", pretty.String())
	} else {
		fmt.Fprintf(&b, "  value    %s\n", printable(m.Value))
	}
	return b.String()
}

// printable shows text as it is and anything else Go-quoted, so a binary
// key or header cannot garble the terminal.
func printable(b []byte) string {
	if utf8.Valid(b) && !bytes.ContainsFunc(b, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return string(b)
	}
	return fmt.Sprintf("%q", b)
}
