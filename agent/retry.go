package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/breaker"

	"github.com/logagent/logagent/internal/backoff"
)

// What the shipper does with a message Kafka returned on Errors(): it is sent
// again, always. Errors that say the brokers cannot be reached park it until
// a broker answers a connection (probe), so a returning broker is used within
// probeInterval however long it was away, and a dead one is not hammered;
// other errors (unknown topic, not leader, too large) send it again after a
// backoff of its own.

// probeInterval is how often the prober tries the brokers while messages are
// parked.
const probeInterval = 500 * time.Millisecond

// unhealable errors need an operator; they are still retried, loudly.
func unhealable(err error) bool {
	var cfgErr sarama.ConfigurationError // e.g. a message above Producer.MaxMessageBytes
	if errors.As(err, &cfgErr) {
		return true
	}
	for _, e := range []error{sarama.ErrMessageSizeTooLarge, sarama.ErrTopicAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed, sarama.ErrInvalidTopic} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// unreachable errors say no broker could be talked to.
func unreachable(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, sarama.ErrOutOfBrokers) ||
		errors.Is(err, sarama.ErrNotConnected)
}

// waitForBroker reports whether a returned message should be parked until a
// broker answers: its error says none could be reached, or it is sarama's
// circuit breaker while the brokers are known to be down. (Open while they
// answer, the breaker is a topic's trouble, like an unknown topic: a backoff
// of its own.)
func (s *Shipper) waitForBroker(err error) bool {
	if unreachable(err) {
		s.down.Store(true)
		return true
	}
	return errors.Is(err, breaker.ErrBreakerOpen) && s.down.Load()
}

func (s *Shipper) readErrors(p sarama.AsyncProducer, gen int64) {
	defer s.results.Done()
	for perr := range p.Errors() {
		st := perr.Msg.Metadata.(*messageState)
		if gen != s.gen.Load() {
			// A retired producer hands back what it held (shutting down, or
			// its breaker still open): to the new one at once. Its errors say
			// nothing about the brokers now.
			s.enqueueRetry(perr.Msg)
			continue
		}
		st.attempts++
		s.health.failed(perr.Msg.Topic, perr.Err)
		kind := "retryable"
		if unhealable(perr.Err) {
			kind = "unhealable"
			if time.Since(s.lastLoud) > 10*time.Second {
				s.lastLoud = time.Now()
				s.log.Error("Kafka refuses a message and will keep refusing it until an operator acts; retrying",
					"topic", perr.Msg.Topic, "error", perr.Err)
			}
		}
		s.metrics.SendErrors.WithLabelValues(kind).Inc()
		msg := perr.Msg
		if s.waitForBroker(perr.Err) {
			s.park(msg)
			continue
		}
		time.AfterFunc(retryBackoff(st.attempts), func() { s.enqueueRetry(msg) })
	}
}

// retryBackoff is exponential from 100 ms to 5 s, jittered. The cap is low
// because the in-flight limit, not the backoff, is what protects the agent.
func retryBackoff(attempt int) time.Duration {
	return backoff.Delay(attempt, 100*time.Millisecond, 5*time.Second)
}

func (s *Shipper) enqueueRetry(msg *sarama.ProducerMessage) {
	s.retryMu.Lock()
	s.retryQ = append(s.retryQ, msg)
	s.retryMu.Unlock()
	s.retryCond.Broadcast()
}

func (s *Shipper) park(msg *sarama.ProducerMessage) {
	s.retryMu.Lock()
	s.parked = append(s.parked, msg)
	s.retryMu.Unlock()
	s.retryCond.Broadcast()
}

// probe waits for parked messages, then tries to connect to the brokers
// every probeInterval until one answers, and lets the parked messages go.
func (s *Shipper) probe() {
	defer s.feeders.Done()
	for {
		s.retryMu.Lock()
		for len(s.parked) == 0 && !s.closed {
			s.retryCond.Wait()
		}
		s.retryMu.Unlock()
		select {
		case <-s.stop:
			return
		case <-time.After(probeInterval):
		}
		if !s.brokerAnswers() {
			continue
		}
		s.renew()
		s.down.Store(false)
		s.retryMu.Lock()
		s.retryQ = append(s.retryQ, s.parked...)
		clear(s.parked)
		s.parked = s.parked[:0]
		s.retryMu.Unlock()
		s.retryCond.Broadcast()
	}
}

// waitUntilUp holds a new batch while the brokers are known to be down:
// fed to sarama then, its messages would only come back as errors, each one
// a leader lookup that fails, and go round the retry queue until the probe
// sees a broker (and renews the producer).
func (s *Shipper) waitUntilUp(ctx context.Context) error {
	for s.down.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(probeInterval / 10):
		}
	}
	return nil
}

// feedOne hands one message to the producer; false once the shipper stops.
func (s *Shipper) feedOne(msg *sarama.ProducerMessage) bool {
	s.prodMu.RLock()
	defer s.prodMu.RUnlock()
	select {
	case s.producer.Input() <- msg:
		return true
	case <-s.stop:
		return false
	}
}

// renew replaces the producer once the brokers answer again after an
// outage. During one, sarama opens a partition's circuit breaker after three
// failed leader lookups and keeps it open for a fixed 10 s after the last,
// so after a short outage the old producer would sit out the rest of that.
// The old one is closed; what it still holds comes back on its Errors and
// goes to the new one.
func (s *Shipper) renew() {
	p, err := sarama.NewAsyncProducer(s.brokers, s.cfg)
	if err != nil {
		s.log.Warn("Kafka producer not replaced after the outage; its circuit breakers close by themselves within 10 s", "error", err)
		return
	}
	s.prodMu.Lock()
	old := s.producer
	s.producer = p
	gen := s.gen.Add(1)
	s.prodMu.Unlock()
	s.readResults(p, gen)
	old.AsyncClose()
	s.metrics.ProducerRenewals.Inc()
	s.log.Info("Kafka producer replaced after the outage")
}

// brokerAnswers reports whether any broker answers a Kafka request
// (ApiVersions, over the producer's TLS and SASL). A TCP connection alone is
// not enough: a broker that is starting may accept and then refuse, and
// messages let go then fail again and open sarama's circuit breaker for 10 s.
func (s *Shipper) brokerAnswers() bool {
	for _, addr := range s.brokers {
		b := sarama.NewBroker(addr)
		if err := b.Open(s.probeCfg); err != nil {
			continue
		}
		_, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
		_ = b.Close()
		if err == nil {
			return true
		}
	}
	return false
}

// resend feeds failed messages back to the producer. It is separate from
// readErrors so that draining Errors() never waits on a full Input().
func (s *Shipper) resend() {
	defer s.feeders.Done()
	for {
		s.retryMu.Lock()
		for len(s.retryQ) == 0 && !s.closed {
			s.retryCond.Wait()
		}
		if s.closed {
			s.retryMu.Unlock()
			return
		}
		msg := s.retryQ[0]
		s.retryQ[0] = nil
		s.retryQ = s.retryQ[1:]
		s.retryMu.Unlock()
		// sarama resets a message's retry state when it is sent again.
		if !s.feedOne(msg) {
			return
		}
		s.metrics.MessagesRetried.Inc()
	}
}
