// Package kafkatopics asks Kafka which topics exist, for the checks of
// logagent -check -connect and logctl, without the transfer's dependencies.
package kafkatopics

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/logagent/logagent/conf"
)

// Partitions connects to k's brokers with its TLS and SASL settings (dialing
// for at most dialTimeout) and reads the cluster's metadata. It returns the
// partition count of each of topics, 0 for one that does not exist, and
// creates none. logagent -check -connect and logctl use it.
func Partitions(k conf.Kafka, topics []string, dialTimeout time.Duration) (map[string]int, error) {
	sc, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	// The full metadata names no topic, so it creates none even on brokers
	// that create topics on first use: a check must not create what it
	// looks for.
	sc.Metadata.Full = true
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 100 * time.Millisecond
	sc.Net.DialTimeout = dialTimeout
	client, err := sarama.NewClient(k.Brokers, sc)
	if err != nil {
		if k.SASL.Mechanism != "" && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w (the broker closed the connection at login: with SASL most often a wrong username or password)", err)
		}
		return nil, err
	}
	defer client.Close()
	existing, err := client.Topics()
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	out := make(map[string]int, len(topics))
	for _, t := range topics {
		out[t] = 0
		if !slices.Contains(existing, t) {
			continue
		}
		parts, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("kafka: partitions of %s: %w", t, err)
		}
		out[t] = len(parts)
	}
	return out, nil
}
