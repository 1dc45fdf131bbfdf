package testenv

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A held request is neither written nor answered; released, the broker
// writes only the topics named, and the producer learns the rest failed.
func TestHoldProduceWritesOnlyWhatReleaseKeeps(t *testing.T) {
	k := StartKafka(t, Topics("kept", "dropped"), Partitions(1))
	hold := k.HoldProduce(t, Carries("dropped", 1))

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 0      // a failure is reported, not healed by a resend
	cfg.Producer.Flush.Messages = 2 // both messages in one request
	cfg.Producer.Flush.Frequency = time.Hour
	p, err := sarama.NewSyncProducer(k.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	sent := make(chan error, 1)
	go func() {
		sent <- p.SendMessages([]*sarama.ProducerMessage{
			{Topic: "kept", Value: sarama.StringEncoder("k")},
			{Topic: "dropped", Value: sarama.StringEncoder("d")},
		})
	}()

	hold.Wait(t, 30*time.Second)
	if hold.Records("kept") != 1 || hold.Records("dropped") != 1 {
		t.Fatalf("held records: kept %d dropped %d, want 1 each", hold.Records("kept"), hold.Records("dropped"))
	}
	if n := k.Count(t, "kept") + k.Count(t, "dropped"); n != 0 {
		t.Fatalf("%d records written while the request is held", n)
	}
	hold.Release("kept")
	var perrs sarama.ProducerErrors
	if err := <-sent; !errors.As(err, &perrs) || len(perrs) != 1 || perrs[0].Msg.Topic != "dropped" {
		t.Fatalf("send after release: %v, want one error, for the dropped topic", err)
	}
	if k.Count(t, "kept") != 1 || k.Count(t, "dropped") != 0 {
		t.Fatalf("after release: kept %d dropped %d, want 1 and 0", k.Count(t, "kept"), k.Count(t, "dropped"))
	}
}
