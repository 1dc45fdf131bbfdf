package transfer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the transfer's Prometheus series, registered on the registerer
// given to NewMetrics.
type Metrics struct {
	Consumed     prometheus.Counter
	Indexed      prometheus.Counter
	Retried      prometheus.Counter
	DeadLettered prometheus.Counter
	Committed    prometheus.Counter
	BulkRequests prometheus.Counter
	BatchSeconds prometheus.Histogram // one batch from first bulk to all stored
	BatchSize    prometheus.Histogram
	Lag          *prometheus.GaugeVec // by topic, partition: high watermark - next offset
	// IndicesDeleted counts daily indices Retention deleted.
	IndicesDeleted prometheus.Counter
	// PipelineDropped and PipelineFailed count documents a topic's pipeline
	// dropped, or tagged with a failure, by topic and step.
	PipelineDropped *prometheus.CounterVec
	PipelineFailed  *prometheus.CounterVec
	// EventDelay is, per document, the time from the agent's read of its
	// line to the bulk that stored it (or the dead-letter write).
	EventDelay prometheus.Histogram
}

// NewMetrics creates and registers the transfer's metrics.
func NewMetrics(r prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "logtransfer", Name: name, Help: help})
		r.MustRegister(c)
		return c
	}
	m := &Metrics{
		Consumed:       counter("messages_consumed_total", "Kafka messages received."),
		Indexed:        counter("documents_indexed_total", "Documents the search engine stored."),
		Retried:        counter("documents_retried_total", "Documents sent again after a retryable failure or a missing answer."),
		DeadLettered:   counter("documents_dead_lettered_total", "Documents written to the DLQ topic."),
		Committed:      counter("batches_committed_total", "Batches stored or dead-lettered whose offsets were marked; they are committed in the background."),
		BulkRequests:   counter("bulk_requests_total", "Bulk requests sent."),
		IndicesDeleted: counter("indices_deleted_total", "Daily indices deleted because they were older than retention_days."),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "logtransfer", Name: "batch_index_seconds",
			Help: "Time to store one batch, retries included.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "logtransfer", Name: "batch_documents",
			Help: "Documents per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "logtransfer", Name: "consumer_lag_messages",
			Help: "Messages behind the partition's high watermark."}, []string{"topic", "partition"}),
	}
	m.PipelineDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "logtransfer", Name: "pipeline_dropped_total",
		Help: "Documents a topic's pipeline dropped (a drop step): not indexed, their offsets committed."}, []string{"topic", "step"})
	m.PipelineFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "logtransfer", Name: "pipeline_failures_total",
		Help: "Documents indexed with a <step>_failure tag because a step of their topic's pipeline failed."}, []string{"topic", "step"})
	m.EventDelay = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "logtransfer", Name: "event_delay_seconds",
		Help:    "Time from the agent reading a line (its event.created header) to the engine storing its document: how far behind search is.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 18)})
	r.MustRegister(m.BatchSeconds, m.BatchSize, m.Lag, m.PipelineDropped, m.PipelineFailed, m.EventDelay)
	return m
}
