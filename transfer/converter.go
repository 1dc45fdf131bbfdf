package transfer

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/jsonx"
	"github.com/logagent/logagent/transfer/pipeline"
	"github.com/logagent/logagent/wire"
)

// Converter turns Kafka messages into documents: it picks the _id and the
// index, tells envelopes from raw lines and applies the topic's parser. It is
// immutable and safe for concurrent use.
//
// Documents are built by splicing bytes into the event's JSON rather than by
// decoding and re-encoding it: this is the transfer's hot path. Only when an
// added field collides with one the event already has does it fall back to a
// full decode and merge.
type Converter struct {
	index     conf.IndexPattern
	parse     map[string]parseMode
	pipelines map[string]*pipeline.Pipeline // a topic's steps, after its parse mode
	jsonKey   []byte                        // the json_target field name as a quoted JSON string
}

type parseMode uint8

const (
	parseNone parseMode = iota
	parseJSON
	parseAccess // nginx and combined: both write the combined log format
)

// NewConverter compiles the index pattern and parse settings of a validated
// config.
func NewConverter(cfg *conf.Transfer) (*Converter, error) {
	c := &Converter{parse: make(map[string]parseMode), pipelines: make(map[string]*pipeline.Pipeline)}
	var err error
	if c.index, err = conf.CompileIndex(cfg.Index); err != nil {
		return nil, err
	}
	topics := slices.Sorted(maps.Keys(cfg.Parse))
	for topic := range cfg.Pipelines {
		topics = append(topics, topic)
	}
	for _, topic := range topics {
		switch mode := cfg.ParseMode(topic); mode {
		case conf.ParseJSON:
			c.parse[topic] = parseJSON
		case conf.ParseNginx, conf.ParseCombined:
			c.parse[topic] = parseAccess
		case conf.ParseNone:
		default:
			return nil, fmt.Errorf("parse.%s: unknown mode %q", topic, mode)
		}
		if pc := cfg.Pipelines[topic]; len(pc.Steps) > 0 {
			specs := make([]pipeline.Spec, len(pc.Steps))
			for i, st := range pc.Steps {
				specs[i] = st
			}
			if c.pipelines[topic], err = pipeline.Compile(specs, pc.Fields); err != nil {
				return nil, fmt.Errorf("pipelines.%s: %w", topic, err)
			}
		}
	}
	target := cfg.JSONTarget
	if target == "" {
		target = "json"
	}
	c.jsonKey, _ = jsonx.AppendString(nil, []byte(target))
	return c, nil
}

// Document converts one message. It never fails: a value that is not a valid
// JSON envelope is indexed as a raw line.
//
// _id is the event.id header, else the envelope's event.id, else
// <topic>-<partition>-<offset> (not duplicate-proof: the same line produced
// twice gets two ids). The index date is the UTC date of @timestamp, else of
// the Kafka timestamp.
func (c *Converter) Document(msg *sarama.ConsumerMessage) Doc {
	d := Doc{Meta: SourceMeta{
		Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
		Key: msg.Key, Value: msg.Value, Headers: msg.Headers,
	}}
	var headerID []byte
	isRaw := false
	for _, h := range msg.Headers {
		if h == nil {
			continue
		}
		switch string(h.Key) {
		case wire.HeaderEventID:
			headerID = h.Value
		case wire.HeaderFormat:
			isRaw = string(h.Value) == wire.FormatRaw // compared without a copy
		case wire.HeaderCreated:
			if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				d.ReadTime = time.UnixMilli(ms)
			}
		}
	}
	kts := msg.Timestamp
	if kts.IsZero() {
		kts = time.Now() // messages older than Kafka 0.10 carry no time
	}
	mode := c.parse[msg.Topic]

	var date [10]byte
	var envID []byte
	ok := false
	if !isRaw {
		d.Source, envID, date, ok = c.envelope(msg.Value, mode, kts)
	}
	if !ok {
		d.Source = c.raw(msg.Value, headerID, mode, kts)
		date, _ = dateOf(kts)
	}
	switch {
	case len(headerID) > 0:
		d.ID = string(headerID)
	case len(envID) > 0:
		d.ID = string(envID)
	default:
		var buf [64]byte
		b := append(buf[:0], msg.Topic...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(msg.Partition), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, msg.Offset, 10)
		d.ID = string(b)
	}
	if p := c.pipelines[msg.Topic]; p != nil {
		d.Pipeline = c.runPipeline(p, &d, &date)
	}
	var name [128]byte
	d.Index = string(c.index.Append(name[:0], msg.Topic, date[:]))
	return d
}

// FieldTypes are the fields topic's pipeline declares with a type, for its
// index template; nil without a pipeline.
func (c *Converter) FieldTypes(topic string) map[string]string {
	if p := c.pipelines[topic]; p != nil {
		return p.FieldTypes()
	}
	return nil
}

// runPipeline applies p to the document built so far: decoded (lazily: the
// fields no step reads stay bytes), changed by the steps, encoded again, and
// dated by its @timestamp, which a date step may have set. A document that
// does not decode (it always should) is left as it is and counted as failed.
func (c *Converter) runPipeline(p *pipeline.Pipeline, d *Doc, date *[10]byte) pipeline.Result {
	ev, err := pipeline.Decode(d.Source)
	if err != nil {
		return pipeline.Result{Failed: "decode: " + err.Error()}
	}
	r := p.Run(ev)
	if r.Dropped != "" {
		return r
	}
	src, err := ev.AppendJSON(make([]byte, 0, len(d.Source)+256))
	if err != nil {
		return pipeline.Result{Failed: "encode: " + err.Error()}
	}
	d.Source = src
	if ts, ok := ev.String(wire.FieldTimestamp); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			if day, ok := dateOf(t); ok {
				*date = day
			}
		}
	}
	return r
}
