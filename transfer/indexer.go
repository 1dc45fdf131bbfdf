// Package transfer moves events from Kafka into a search engine: it turns
// Kafka messages into documents (Converter), indexes batches of them with the
// transfer's guarantees (IndexBatch) and writes the documents the engine
// rejects to a dead-letter topic (KafkaDeadLetters).
//
// A sarama ConsumerGroupHandler uses it like this, per claim:
//
//	docs = append(docs, conv.Document(msg)) // for each message of a batch
//	if err := transfer.IndexBatch(sess.Context(), idx, dlq, docs, log); err != nil {
//		return err // the session ends; nothing of the batch is marked
//	}
//	sess.MarkMessage(last, "") // every doc is indexed or dead-lettered
package transfer

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/logagent/logagent/transfer/pipeline"
)

// Doc is one document to index.
type Doc struct {
	// Index and ID are the document's _index and _id.
	Index, ID string
	// Source is the document as compact JSON (no newline: bulk is NDJSON).
	Source []byte
	// Meta is where the document came from, for dead letters.
	Meta SourceMeta
	// Pipeline is what the topic's pipeline did: a dropped document is not
	// indexed and counts as done; a failed one is indexed, tagged.
	Pipeline pipeline.Result
	// ReadTime is when the agent read the line (its event.created header);
	// zero from producers that do not say.
	ReadTime time.Time
}

// SourceMeta is the Kafka message a document was made from. A dead letter
// carries the original key, value and headers, so it can be replayed.
type SourceMeta struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []*sarama.RecordHeader
}

// ItemResult is the engine's answer for one document of a bulk request.
type ItemResult struct {
	// Status is the item's HTTP status (201 created, 200 updated, 4xx, 5xx).
	Status int
	// Type and Reason describe an error ("mapper_parsing_exception", …);
	// empty on success.
	Type, Reason string
}

// Indexer is the search-engine boundary. Implementations must be safe for
// concurrent use: one serves every partition's consumer.
type Indexer interface {
	// Bulk indexes docs; the result has one item per doc the engine answered
	// for, in order. Fewer items than docs means the rest were not indexed.
	// A failed request (connection error, HTTP error status) is an error,
	// preferably a *RequestError.
	Bulk(ctx context.Context, docs []Doc) ([]ItemResult, error)
	// Probe returns nil when the engine answers at all, cheaply and without
	// documents. IndexBatch probes an engine that left a bulk unanswered
	// until it answers, instead of resending the bulk.
	Probe(ctx context.Context) error
}

// RequestError is a bulk request that failed as a whole.
type RequestError struct {
	// Status is the HTTP status; 0 when no response arrived (connection error,
	// unreadable response).
	Status int
	// Type and Reason are the engine's error, when it sent one.
	Type, Reason string
	// Err is the underlying error.
	Err error
}

func (e *RequestError) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("bulk request failed: %v", e.Err)
	case e.Type != "":
		return fmt.Sprintf("bulk request failed: HTTP %d %s: %s", e.Status, e.Type, e.Reason)
	default:
		return fmt.Sprintf("bulk request failed: HTTP %d", e.Status)
	}
}

func (e *RequestError) Unwrap() error { return e.Err }
