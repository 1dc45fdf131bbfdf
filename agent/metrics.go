package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logagent/logagent/collect"
)

// Metrics are the agent's Prometheus series. They are registered on the
// registerer given to NewMetrics, so tests can use a fresh registry.
type Metrics struct {
	LinesRead          prometheus.Counter
	BytesRead          prometheus.Counter
	MessagesSent       prometheus.Counter
	MessagesAcked      prometheus.Counter
	MessagesRetried    prometheus.Counter
	SendErrors         *prometheus.CounterVec // by kind: retryable | unhealable
	TopicSendFailing   *prometheus.GaugeVec   // by topic
	BytesInFlight      prometheus.Gauge
	ReadBufferBytes    prometheus.Gauge
	ProducerRenewals   prometheus.Counter
	FilesWaitingToRead prometheus.Gauge
	FilesOpen          prometheus.Gauge
	FilesWaiting       prometheus.Gauge
	FileLagBytes       *prometheus.GaugeVec // by path
	FileErrors         prometheus.Counter
	HeldDeletedBytes   prometheus.Gauge
	Truncations        prometheus.Counter
	MultilineJoined    prometheus.Counter
	MultilineTimeEnds  prometheus.Counter
	EventsDropped      *prometheus.CounterVec // by reason: collect.DropNotIncluded | collect.DropExcluded
	// droppedBy is EventsDropped's counter of each reason, resolved once:
	// a filter may drop most of a busy file's lines.
	droppedBy          map[string]prometheus.Counter
	ConfigReloads      prometheus.Counter
	ConfigRejections   prometheus.Counter
	ConfigRevision     prometheus.Gauge
	RegistrySaveErrors prometheus.Counter
}

// NewMetrics creates and registers the agent's metrics.
func NewMetrics(r prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "logagent", Name: name, Help: help})
		r.MustRegister(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "logagent", Name: name, Help: help})
		r.MustRegister(g)
		return g
	}
	m := &Metrics{
		LinesRead:          counter("lines_read_total", "Events cut from files (a split line counts once per piece)."),
		BytesRead:          counter("bytes_read_total", "Bytes read from files."),
		MessagesSent:       counter("messages_sent_total", "Messages handed to the Kafka producer, retries included."),
		MessagesAcked:      counter("messages_acked_total", "Messages acknowledged by Kafka."),
		ProducerRenewals:   counter("producer_renewals_total", "Kafka producers replaced when the brokers answer after an outage, so that sarama's circuit breakers (open 10 s after their last failure) do not hold sending back."),
		MessagesRetried:    counter("messages_retried_total", "Messages re-sent after the producer returned an error."),
		SendErrors:         prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "logagent", Name: "send_errors_total", Help: "Producer errors by kind; unhealable ones (authorization, message too large) need an operator."}, []string{"kind"}),
		TopicSendFailing:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "logagent", Name: "topic_send_failing", Help: "1 while sends to the topic fail (unknown topic, authorization, too large, brokers unreachable), 0 once one succeeds; the error is in logctl status."}, []string{"topic"}),
		BytesInFlight:      gauge("bytes_in_flight", "Memory of batches being encoded, or sent to Kafka and not yet acknowledged (capped by limits.max_bytes_in_flight)."),
		ReadBufferBytes:    gauge("read_buffer_bytes", "Memory of the read buffers of files with bytes waiting in them (idle files give theirs back)."),
		FilesWaitingToRead: gauge("files_waiting_for_read_buffer", "Files with data to read waiting for a read buffer: all of them (a quarter of limits.max_bytes_in_flight) are held by files waiting for batch memory."),
		FilesOpen:          gauge("files_open", "Files currently open for reading."),
		FilesWaiting:       gauge("files_waiting_for_descriptor", "Matched files with data to ship waiting because files.max_open_files are open."),
		FileLagBytes:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "logagent", Name: "file_lag_bytes", Help: "File size minus acknowledged offset."}, []string{"path"}),
		FileErrors:         counter("file_errors_total", "Files that could not be opened or read."),
		HeldDeletedBytes:   gauge("held_deleted_bytes", "Unread bytes of deleted or rotated-away files still held open."),
		Truncations:        counter("truncations_total", "Files that shrank below their read offset and were read again from 0."),
		MultilineJoined:    counter("multiline_lines_joined_total", "Lines joined into the event before them by a multiline rule: the lines of multiline events = those events + these."),
		MultilineTimeEnds:  counter("multiline_ended_by_time_total", "Multiline events ended by their timeout (or a truncation, rotation or config change) rather than by the next line: many mean the timeout is too short for how the application writes."),
		EventsDropped:      prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "logagent", Name: "events_dropped_total", Help: "Events an entry's include_lines or exclude_lines dropped, by reason (not_included, excluded); their bytes count as shipped."}, []string{"reason"}),
		ConfigReloads:      counter("config_reloads_total", "Collect configs applied (a change of any layer)."),
		ConfigRejections:   counter("config_rejections_total", "Versions of a collect config layer rejected as invalid; the layer's previous version kept running."),
		ConfigRevision:     gauge("config_revision", "etcd revision of the collect config in use (0 for the cached one)."),
		RegistrySaveErrors: counter("registry_save_errors_total", "Failed registry writes."),
	}
	r.MustRegister(m.SendErrors, m.TopicSendFailing, m.FileLagBytes, m.EventsDropped)
	m.droppedBy = map[string]prometheus.Counter{}
	for _, reason := range []string{collect.DropNotIncluded, collect.DropExcluded} {
		m.droppedBy[reason] = m.EventsDropped.WithLabelValues(reason) // exported at 0 from the start
	}
	return m
}

// eventDropped counts an event a filter dropped, for reason.
func (m *Metrics) eventDropped(reason string) { m.droppedBy[reason].Inc() }
