package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/wire"
)

// maxReasonBytes keeps an engine's long explanation (which may quote the
// document) from growing the message past the producer's size limit.
const maxReasonBytes = 2048

// KafkaDeadLetters is the DeadLetterWriter that writes each refused
// document's original key, value and headers to its topic's DLQ topic, plus
// the error.* and source.* headers. It is safe for concurrent use.
type KafkaDeadLetters struct {
	producer sarama.SyncProducer
	topicFor func(source string) string
}

// NewKafkaDeadLetters starts a SyncProducer from cfg.Kafka (acks all,
// idempotent by default) that writes to the topics of cfg.DLQTopic; it fails
// when Kafka is unreachable.
func NewKafkaDeadLetters(cfg *conf.Transfer) (*KafkaDeadLetters, error) {
	sc, err := deadLetterConfig(cfg)
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewSyncProducer(cfg.Kafka.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("dead-letter producer: %w", err)
	}
	return &KafkaDeadLetters{producer: p, topicFor: cfg.DLQTopicFor}, nil
}

// ConnectDeadLetters is NewKafkaDeadLetters retrying while Kafka is
// unreachable, until ctx is done; a bad setting fails at once.
func ConnectDeadLetters(ctx context.Context, cfg *conf.Transfer, log *slog.Logger) (*KafkaDeadLetters, error) {
	sc, err := deadLetterConfig(cfg)
	if err != nil {
		return nil, err
	}
	p, err := connect(ctx, log, cfg.Kafka.Brokers, func() (sarama.SyncProducer, error) {
		return sarama.NewSyncProducer(cfg.Kafka.Brokers, sc)
	})
	if err != nil {
		return nil, fmt.Errorf("dead-letter producer: %w", err)
	}
	return &KafkaDeadLetters{producer: p, topicFor: cfg.DLQTopicFor}, nil
}

func deadLetterConfig(cfg *conf.Transfer) (*sarama.Config, error) {
	sc, err := cfg.Kafka.Sarama()
	if err != nil {
		return nil, err
	}
	sc.Producer.Return.Successes = true // required by SyncProducer
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner // the original key keeps its lines together
	return sc, nil
}

// Write implements DeadLetterWriter. sarama's SyncProducer does not take a
// context; its own timeouts and retry budget bound the call.
func (k *KafkaDeadLetters) Write(ctx context.Context, letters []DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	msgs := make([]*sarama.ProducerMessage, len(letters))
	for i := range letters {
		msgs[i] = k.message(&letters[i])
	}
	err := k.producer.SendMessages(msgs)
	if err == nil {
		return nil
	}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		return fmt.Errorf("write dead letters: %d of %d failed, first: %w", len(perrs), len(msgs), perrs[0].Err)
	}
	return fmt.Errorf("write dead letters: %w", err)
}

func (k *KafkaDeadLetters) message(l *DeadLetter) *sarama.ProducerMessage {
	m := l.Doc.Meta
	headers := append(wire.OriginalHeaders(m.Headers, 5), // a replayed dead letter gets fresh ones

		sarama.RecordHeader{Key: []byte(wire.HeaderErrorReason), Value: []byte(truncateUTF8(l.Reason, maxReasonBytes))},
		sarama.RecordHeader{Key: []byte(wire.HeaderErrorType), Value: []byte(l.Type)},
		sarama.RecordHeader{Key: []byte(wire.HeaderSourceTopic), Value: []byte(m.Topic)},
		sarama.RecordHeader{Key: []byte(wire.HeaderSourcePartition), Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		sarama.RecordHeader{Key: []byte(wire.HeaderSourceOffset), Value: strconv.AppendInt(nil, m.Offset, 10)},
	)
	msg := &sarama.ProducerMessage{
		Topic:   k.topicFor(m.Topic),
		Value:   sarama.ByteEncoder(m.Value),
		Headers: headers,
	}
	if m.Key != nil {
		msg.Key = sarama.ByteEncoder(m.Key)
	}
	return msg
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Close closes the producer if NewKafkaDeadLetters made it.
func (k *KafkaDeadLetters) Close() error {
	if err := k.producer.Close(); err != nil {
		return fmt.Errorf("close dead-letter producer: %w", err)
	}
	return nil
}
