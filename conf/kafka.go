package conf

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Kafka is the connection and producer/consumer settings shared by the agent
// and the transfer.
type Kafka struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string `yaml:"brokers"`
	// Version is the lowest Kafka protocol version the cluster speaks; default 2.8.0.
	// 0.11.0 is the oldest that works (record headers).
	Version string `yaml:"version"`
	// ClientID names this client in broker logs; default the program name.
	ClientID string `yaml:"client_id"`
	// Compression is none, gzip, snappy (default), lz4 or zstd (needs version >= 2.1.0).
	Compression string `yaml:"compression"`
	// Acks is all (default), leader or none. The agent's guarantees need all.
	Acks string `yaml:"acks"`
	// Idempotent turns on the idempotent producer (default true): broker-side
	// retries never write a batch twice.
	Idempotent *bool `yaml:"idempotent"`
	// MaxMessageBytes is the largest message the producer sends; default 1000000,
	// Kafka's own default for message.max.bytes.
	MaxMessageBytes int  `yaml:"max_message_bytes"`
	TLS             TLS  `yaml:"tls"`
	SASL            SASL `yaml:"sasl"`
}

// SASL authenticates to Kafka. Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;
// empty means no SASL.
type SASL struct {
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// SetDefaults fills what the YAML left empty; clientID names the program to
// the brokers. LoadAgent and LoadTransfer call it; logctl calls it for
// settings from flags.
func (k *Kafka) SetDefaults(clientID string) {
	if k.Version == "" {
		k.Version = "2.8.0"
	}
	if k.ClientID == "" {
		k.ClientID = clientID
	}
	if k.Compression == "" {
		k.Compression = "snappy"
	}
	if k.Acks == "" {
		k.Acks = "all"
	}
	if k.Idempotent == nil {
		on := true
		k.Idempotent = &on
	}
	if k.MaxMessageBytes == 0 {
		k.MaxMessageBytes = 1000000
	}
}

var compressions = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

var acks = map[string]sarama.RequiredAcks{
	"all": sarama.WaitForAll, "leader": sarama.WaitForLocal, "none": sarama.NoResponse,
}

func (k *Kafka) validate() error {
	if len(k.Brokers) == 0 {
		return fmt.Errorf("kafka.brokers: at least one broker address is required")
	}
	for _, b := range k.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("kafka.brokers: %q has no port (want host:port)", b)
		}
	}
	v, err := sarama.ParseKafkaVersion(k.Version)
	if err != nil {
		return fmt.Errorf("kafka.version: %q is not a Kafka version (example: 2.8.0)", k.Version)
	}
	if !v.IsAtLeast(sarama.V0_11_0_0) {
		return fmt.Errorf("kafka.version: %s is too old; record headers need at least 0.11.0", k.Version)
	}
	c, ok := compressions[k.Compression]
	if !ok {
		return fmt.Errorf("kafka.compression: %q is not one of none, gzip, snappy, lz4, zstd", k.Compression)
	}
	if c == sarama.CompressionZSTD && !v.IsAtLeast(sarama.V2_1_0_0) {
		return fmt.Errorf("kafka.compression: zstd needs kafka.version 2.1.0 or later")
	}
	if _, ok := acks[k.Acks]; !ok {
		return fmt.Errorf("kafka.acks: %q is not one of all, leader, none", k.Acks)
	}
	if *k.Idempotent && k.Acks != "all" {
		return fmt.Errorf("kafka.acks: the idempotent producer needs acks: all (or set idempotent: false)")
	}
	if k.MaxMessageBytes < 4096 {
		return fmt.Errorf("kafka.max_message_bytes: %d is too small (at least 4096)", k.MaxMessageBytes)
	}
	switch k.SASL.Mechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("kafka.sasl.mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", k.SASL.Mechanism)
	}
	if k.SASL.Mechanism != "" && k.SASL.Username == "" {
		return fmt.Errorf("kafka.sasl.username: required with mechanism %s", k.SASL.Mechanism)
	}
	return k.TLS.validate("kafka.tls")
}

// Sarama builds the client configuration shared by producer and consumer.
// Callers set the producer- or consumer-specific parts on top.
func (k *Kafka) Sarama() (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(k.Version)
	if err != nil {
		return nil, fmt.Errorf("kafka.version: %w", err)
	}
	cfg.Version = v
	cfg.ClientID = k.ClientID
	cfg.Producer.Compression = compressions[k.Compression]
	cfg.Producer.RequiredAcks = acks[k.Acks]
	cfg.Producer.MaxMessageBytes = k.MaxMessageBytes
	if *k.Idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	tlsCfg, err := k.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("kafka.tls.%w", err)
	}
	if tlsCfg != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tlsCfg
	}
	if k.SASL.Mechanism != "" {
		pw, err := k.SASL.Password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl.password: %w", err)
		}
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.User = k.SASL.Username
		cfg.Net.SASL.Password = pw
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(k.SASL.Mechanism)
		switch k.SASL.Mechanism {
		case "SCRAM-SHA-256":
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
		case "SCRAM-SHA-512":
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
		}
	}
	return cfg, nil
}

// scramClient adapts xdg-go/scram to sarama's SCRAMClient interface.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramClient) Done() bool                            { return c.conv.Done() }

// maxTopicLen is Kafka's limit on topic name length.
const maxTopicLen = 249

// ValidateTopicName applies Kafka's rules for topic names. The agent's
// collect config (etcd) and transfer.yaml both use it.
func ValidateTopicName(t string) error {
	switch {
	case t == "":
		return errors.New("must not be empty")
	case t == "." || t == "..":
		return fmt.Errorf("%q is not a legal Kafka topic name", t)
	case len(t) > maxTopicLen:
		return fmt.Errorf("is %d characters long; Kafka allows at most %d", len(t), maxTopicLen)
	}
	for _, c := range t {
		legal := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !legal {
			return fmt.Errorf("%q contains %q; Kafka allows only letters, digits, '.', '_' and '-'", t, c)
		}
	}
	return nil
}
