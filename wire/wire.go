// Package wire is the contract between logagent, logtransfer and logctl:
// what the agent writes to Kafka (the record headers, the envelope's field
// names, its time layout, the format values) and what the transfer writes
// to a dead-letter topic. Each side imports it; nothing here depends on any
// of them but the Kafka client's record type.
package wire

import (
	"strings"

	"github.com/IBM/sarama"
)

// Headers of every record the agent produces.
const (
	// HeaderEventID is the event's id: 32 hex digits derived from the host,
	// the file's origin and the line's offset, the same on every send. The
	// transfer indexes the document under it.
	HeaderEventID = "event.id"
	// HeaderFormat is FormatEnvelope or FormatRaw.
	HeaderFormat = "format"
	// HeaderCreated is when the agent read the line, in Unix milliseconds
	// (decimal): @timestamp may be the line's own time, so the transfer
	// measures the end-to-end delay from this.
	HeaderCreated = "event.created"
)

// Values of HeaderFormat, and of a collect entry's "format".
const (
	// FormatEnvelope: the value is a JSON envelope (the fields below).
	FormatEnvelope = "envelope"
	// FormatRaw: the value is the line's bytes as they are.
	FormatRaw = "raw"
)

// Top-level fields of the envelope, ECS names:
//
//	{"@timestamp":"…","message":"…","host":{"name":"web-1"},
//	 "log":{"file":{"path":"…"},"offset":1234,"flags":["multiline"]},
//	 "event":{"id":"…"},"fields":{"env":"prod"}}
const (
	FieldTimestamp = "@timestamp"
	FieldMessage   = "message"
	FieldHost      = "host"   // {"name": host_id}
	FieldLog       = "log"    // {"file": {"path": …}, "offset": …, "flags": […]}
	FieldEvent     = "event"  // {"id": HeaderEventID's value}
	FieldFields    = "fields" // the entry's static fields
)

// TimeLayout is how @timestamp is written: RFC 3339 in UTC with a fixed
// nine-digit fraction, so all stamps have one width and sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Headers the transfer adds to a message it dead-letters, after the
// original's own headers.
const (
	HeaderErrorReason     = "error.reason"
	HeaderErrorType       = "error.type"
	HeaderSourceTopic     = "source.topic"
	HeaderSourcePartition = "source.partition"
	HeaderSourceOffset    = "source.offset"
)

// OriginalHeaders returns hs without the dead-letter headers (every
// error.* and source.* one, so a later version's additions too), with room
// for extra more: what a message carried before it was dead-lettered. The
// transfer's DLQ writer and logctl dlq replay share it, so replay strips
// exactly what the writer adds.
func OriginalHeaders(hs []*sarama.RecordHeader, extra int) []sarama.RecordHeader {
	out := make([]sarama.RecordHeader, 0, len(hs)+extra)
	for _, h := range hs {
		if h == nil {
			continue
		}
		if k := string(h.Key); strings.HasPrefix(k, "error.") || strings.HasPrefix(k, "source.") {
			continue
		}
		out = append(out, *h)
	}
	return out
}
