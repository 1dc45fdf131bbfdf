package preflight

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
)

// KafkaTopics connects to k's brokers with its TLS and SASL settings and
// reads the cluster's metadata. It returns the partition count of each of
// topics, 0 for one that does not exist, and creates none. logctl uses it
// to warn about a topic that does not exist.
func KafkaTopics(k conf.Kafka, topics []string) (map[string]int, error) {
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
	sc.Net.DialTimeout = serviceTimeout / 2
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

// kafka checks the brokers and that topics exist. known false means the
// topics could not be learnt (etcd unreachable): only the brokers are
// checked.
func (r *report) kafka(k conf.Kafka, topics []string, known bool) {
	where := describeKafka(k)
	parts, err := KafkaTopics(k, topics)
	if err != nil {
		r.fail("kafka", fmt.Errorf("%s: %w", where, err))
		return
	}
	var found, missing []string
	for _, t := range topics {
		if parts[t] == 0 {
			missing = append(missing, t)
		} else {
			found = append(found, fmt.Sprintf("%s (%d partitions)", t, parts[t]))
		}
	}
	switch {
	case !known:
		r.ok("kafka", "%s: metadata read; topics not checked (the collect config was not read)", where)
	case len(topics) == 0:
		r.ok("kafka", "%s: metadata read; no topics to check", where)
	case len(missing) > 0:
		r.warn("kafka", "%s: topics %s do not exist: sends to them fail until they are created, unless the brokers create topics on first use; found: %s",
			where, strings.Join(missing, ", "), orNone(found))
	default:
		r.ok("kafka", "%s: topics %s", where, orNone(found))
	}
}

func describeKafka(k conf.Kafka) string {
	var how []string
	if k.TLS.Enabled {
		how = append(how, "TLS")
	}
	if k.SASL.Mechanism != "" {
		how = append(how, fmt.Sprintf("SASL %s as %s", k.SASL.Mechanism, k.SASL.Username))
	}
	s := strings.Join(k.Brokers, ",")
	if len(how) > 0 {
		s += " (" + strings.Join(how, ", ") + ")"
	}
	return s
}

func orNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
