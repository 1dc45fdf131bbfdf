package transfer

import (
	"bytes"
	"encoding/json"
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

// jsonObject returns b, trimmed, when it is a valid JSON object, compacted
// if it spans lines: bulk bodies are newline-delimited.
func jsonObject(b []byte) ([]byte, bool) {
	v := bytes.TrimSpace(b)
	if len(v) < 2 || v[0] != '{' || !json.Valid(v) {
		return nil, false
	}
	if bytes.IndexByte(v, '\n') >= 0 {
		var c bytes.Buffer
		_ = json.Compact(&c, v) // v is valid
		v = c.Bytes()
	}
	return v, true
}

// additions are the fields a document gets beyond the event's own.
type additions struct {
	stamp   []byte    // @timestamp, when the event has none
	eventID []byte    // raw lines: event.id from the header
	invalid bool      // raw lines: bytes that were not UTF-8
	jsonObj []byte    // the message parsed as a JSON object
	access  accessLog // the message parsed as an access log, if hasAccess
	failure bool      // the topic's parser could not parse the message

	hasAccess bool
}

// raw builds {"@timestamp","message",…} around a line.
func (c *Converter) raw(value, headerID []byte, mode parseMode, kts time.Time) []byte {
	line := bytes.TrimRight(value, "\r\n")
	dst := make([]byte, 0, len(line)+len(line)/8+128)
	dst = append(dst, `{"`+wire.FieldTimestamp+`":"`...)
	dst = kts.UTC().AppendFormat(dst, wire.TimeLayout)
	dst = append(dst, `","message":`...)
	var add additions
	dst, add.invalid = jsonx.AppendString(dst, line)
	add.eventID = headerID
	c.parseMessage(&add, line, mode)
	dst = c.appendAdditions(dst, &add)
	return append(dst, '}')
}

// envelope splices additions into a JSON envelope. ok is false when value is
// not a JSON object.
func (c *Converter) envelope(value []byte, mode parseMode, kts time.Time) (src, id []byte, date [10]byte, ok bool) {
	v, isObject := jsonObject(value)
	if !isObject {
		return nil, nil, date, false
	}
	var membersBuf [16]jsonx.Member
	ms := jsonx.Members(v, membersBuf[:0])

	var add additions
	dateOK := false
	if ts := jsonx.Find(ms, `"`+wire.FieldTimestamp+`"`); ts != nil {
		date, dateOK = dateFromValue(ts)
	} else {
		add.stamp = kts.UTC().AppendFormat(make([]byte, 0, len(wire.TimeLayout)), wire.TimeLayout)
	}
	if !dateOK {
		date, _ = dateOf(kts)
	}
	if ev := jsonx.Find(ms, `"`+wire.FieldEvent+`"`); len(ev) > 0 && ev[0] == '{' {
		var evBuf [8]jsonx.Member
		id, _ = jsonx.Unquote(jsonx.Find(jsonx.Members(ev, evBuf[:0]), `"id"`))
	} else if ev := jsonx.Find(ms, `"`+wire.HeaderEventID+`"`); ev != nil {
		id, _ = jsonx.Unquote(ev)
	}

	if mode != parseNone {
		msg, isString := jsonx.Unquote(jsonx.Find(ms, `"`+wire.FieldMessage+`"`))
		if isString {
			c.parseMessage(&add, msg, mode)
		} else {
			add.failure = true
		}
	}
	if add.stamp == nil && add.jsonObj == nil && !add.hasAccess && !add.failure {
		return v, id, date, true // nothing to add: the event is the document
	}
	if c.conflicts(ms, &add) {
		return c.merge(v, &add), id, date, true
	}
	end := len(v) - 1 // the closing brace
	dst := make([]byte, 0, len(v)+256)
	dst = append(dst, v[:end]...)
	mark := len(dst)
	dst = c.appendAdditions(dst, &add)
	if len(ms) == 0 {
		dst = append(dst[:mark], dst[mark+1:]...) // "{}": no comma before the first field
	}
	return append(dst, '}'), id, date, true
}

// parseMessage runs the topic's parser on a message.
func (c *Converter) parseMessage(add *additions, msg []byte, mode parseMode) {
	switch mode {
	case parseJSON:
		obj, ok := jsonObject(msg)
		add.jsonObj, add.failure = obj, !ok
	case parseAccess:
		add.hasAccess = parseAccessLog(msg, &add.access)
		add.failure = !add.hasAccess
	}
}

// appendAdditions writes each added field with a leading comma.
func (c *Converter) appendAdditions(dst []byte, add *additions) []byte {
	if add.stamp != nil {
		dst = append(dst, `,"`+wire.FieldTimestamp+`":"`...)
		dst = append(dst, add.stamp...)
		dst = append(dst, '"')
	}
	if add.invalid {
		dst = append(dst, `,"log":{"flags":["invalid_utf8"]}`...)
	}
	if len(add.eventID) > 0 {
		dst = append(dst, `,"event":{"id":`...)
		dst, _ = jsonx.AppendString(dst, add.eventID)
		dst = append(dst, '}')
	}
	if add.jsonObj != nil {
		dst = append(dst, ',')
		dst = append(dst, c.jsonKey...)
		dst = append(dst, ':')
		dst = append(dst, add.jsonObj...)
	}
	if add.hasAccess {
		dst = add.access.appendECS(dst)
	}
	if add.failure {
		dst = append(dst, `,"tags":["parse_failure"]`...)
	}
	return dst
}

// conflicts reports whether an added field already exists in the event.
func (c *Converter) conflicts(ms []jsonx.Member, add *additions) bool {
	has := func(key string) bool { return jsonx.Find(ms, key) != nil }
	if add.jsonObj != nil && jsonx.Find(ms, string(c.jsonKey)) != nil {
		return true
	}
	if add.failure && has(`"tags"`) {
		return true
	}
	if a := &add.access; add.hasAccess {
		if has(`"source"`) || has(`"http"`) ||
			(a.user != nil && has(`"user"`)) || (a.url != nil && has(`"url"`)) || (a.agent != nil && has(`"user_agent"`)) {
			return true
		}
	}
	return false
}

// merge is the slow path for colliding fields: objects are merged, tags
// appended, and otherwise the event's own value wins over a parsed one.
func (c *Converter) merge(v []byte, add *additions) []byte {
	var base, extra map[string]any
	obj := append([]byte{'{'}, c.appendAdditions(nil, add)[1:]...)
	obj = append(obj, '}')
	if decodeNumbers(v, &base) != nil || decodeNumbers(obj, &extra) != nil {
		return v // cannot happen: both are valid JSON objects
	}
	mergeInto(base, extra)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(base) != nil {
		return v
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep 64-bit offsets and ids exact
	return dec.Decode(v)
}

func mergeInto(dst, src map[string]any) {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		switch d := dv.(type) {
		case map[string]any:
			if s, ok := sv.(map[string]any); ok {
				mergeInto(d, s)
			}
		case []any:
			if s, ok := sv.([]any); ok {
				dst[k] = append(d, s...)
			}
		}
	}
}

// dateOf formats t's UTC date as YYYY.MM.DD.
func dateOf(t time.Time) (d [10]byte, ok bool) {
	y, m, day := t.UTC().Date()
	if y < 0 || y > 9999 {
		return d, false
	}
	put4(d[0:4], y)
	d[4] = '.'
	put2(d[5:7], int(m))
	d[7] = '.'
	put2(d[8:10], day)
	return d, true
}

func put4(b []byte, n int) { put2(b[0:2], n/100); put2(b[2:4], n%100) }
func put2(b []byte, n int) { b[0], b[1] = byte('0'+n/10), byte('0'+n%10) }

// dateFromValue reads the date of an @timestamp value: an RFC 3339 string or
// epoch milliseconds (both accepted by Elasticsearch's default date format).
func dateFromValue(v []byte) (d [10]byte, ok bool) {
	if len(v) > 0 && v[0] != '"' {
		ms, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return d, false
		}
		return dateOf(time.UnixMilli(ms))
	}
	s, _ := jsonx.Unquote(v)
	// Fast path for what the agent writes: "YYYY-MM-DDThh:mm:ss…Z" is already UTC.
	if len(s) >= 20 && s[len(s)-1] == 'Z' && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') &&
		digits(s[0:4]) && digits(s[5:7]) && digits(s[8:10]) &&
		string(s[5:7]) >= "01" && string(s[5:7]) <= "12" && string(s[8:10]) >= "01" && string(s[8:10]) <= "31" {
		copy(d[0:4], s[0:4])
		d[4] = '.'
		copy(d[5:7], s[5:7])
		d[7] = '.'
		copy(d[8:10], s[8:10])
		return d, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return d, false
	}
	return dateOf(t)
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// accessLog is a parsed combined-format line; its slices point into the line.
type accessLog struct {
	addr, user, method, url, version, referrer, agent []byte
	status                                            int
	bytes                                             int64
	hasBytes                                          bool
}

// parseAccessLog parses the combined log format of nginx and Apache:
//
//	addr ident user [time] "request" status bytes "referrer" "user agent"
//
// The referrer and user agent may be missing (common log format); fields
// after them are ignored (the message keeps them). "-" means absent. A
// request that is not "METHOD URL [HTTP/x]" (scanners, TLS on the plain
// port) leaves method, URL and version out but still parses.
func parseAccessLog(line []byte, a *accessLog) bool {
	*a = accessLog{}
	i := 0
	field := func() []byte {
		j := i
		for i < len(line) && line[i] != ' ' {
			i++
		}
		return line[j:i]
	}
	space := func() bool {
		if i < len(line) && line[i] == ' ' {
			i++
			return true
		}
		return false
	}
	quoted := func() ([]byte, bool) {
		if i >= len(line) || line[i] != '"' {
			return nil, false
		}
		j := i + 1
		for k := j; k < len(line); k++ {
			switch line[k] {
			case '\\':
				k++ // Apache escapes quotes as \"
			case '"':
				i = k + 1
				return line[j:k], true
			}
		}
		return nil, false
	}

	if a.addr = field(); len(a.addr) == 0 || !space() {
		return false
	}
	if field(); !space() { // ident, always "-"
		return false
	}
	if a.user = field(); !space() {
		return false
	}
	if i >= len(line) || line[i] != '[' {
		return false
	}
	end := bytes.IndexByte(line[i:], ']')
	if end < 0 {
		return false
	}
	i += end + 1
	if !space() {
		return false
	}
	req, ok := quoted()
	if !ok || !space() {
		return false
	}
	st := field()
	if len(st) != 3 || !digits(st) || !space() {
		return false
	}
	a.status, _ = strconv.Atoi(string(st))
	if b := field(); string(b) != "-" {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 {
			return false
		}
		a.bytes, a.hasBytes = n, true
	}
	if space() {
		if a.referrer, ok = quoted(); ok && space() {
			a.agent, _ = quoted()
		}
	}
	splitRequest(req, a)
	for _, f := range []*[]byte{&a.user, &a.referrer, &a.agent} {
		if string(*f) == "-" || len(*f) == 0 {
			*f = nil
		}
	}
	return true
}

func splitRequest(req []byte, a *accessLog) {
	sp := bytes.IndexByte(req, ' ')
	if sp <= 0 || sp > 20 {
		return
	}
	for _, c := range req[:sp] {
		if c < 'A' || c > 'Z' {
			return
		}
	}
	a.method, a.url = req[:sp], req[sp+1:]
	if k := bytes.LastIndexByte(a.url, ' '); k >= 0 && bytes.HasPrefix(a.url[k+1:], []byte("HTTP/")) {
		a.url, a.version = a.url[:k], a.url[k+1+len("HTTP/"):]
	}
	if len(a.url) == 0 {
		a.url = nil
	}
}

// appendECS writes the parsed fields as nested ECS objects.
func (a *accessLog) appendECS(dst []byte) []byte {
	dst = append(dst, `,"source":{"address":`...)
	dst, _ = jsonx.AppendString(dst, a.addr)
	dst = append(dst, '}')
	if a.user != nil {
		dst = append(dst, `,"user":{"name":`...)
		dst, _ = jsonx.AppendString(dst, a.user)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"http":{`...)
	if a.method != nil || a.referrer != nil {
		dst = append(dst, `"request":{`...)
		if a.method != nil {
			dst = append(dst, `"method":`...)
			dst, _ = jsonx.AppendString(dst, a.method)
		}
		if a.referrer != nil {
			if a.method != nil {
				dst = append(dst, ',')
			}
			dst = append(dst, `"referrer":`...)
			dst, _ = jsonx.AppendString(dst, a.referrer)
		}
		dst = append(dst, "},"...)
	}
	if a.version != nil {
		dst = append(dst, `"version":`...)
		dst, _ = jsonx.AppendString(dst, a.version)
		dst = append(dst, ',')
	}
	dst = append(dst, `"response":{"status_code":`...)
	dst = strconv.AppendInt(dst, int64(a.status), 10)
	if a.hasBytes {
		dst = append(dst, `,"body":{"bytes":`...)
		dst = strconv.AppendInt(dst, a.bytes, 10)
		dst = append(dst, '}')
	}
	dst = append(dst, "}}"...)
	if a.url != nil {
		dst = append(dst, `,"url":{"original":`...)
		dst, _ = jsonx.AppendString(dst, a.url)
		dst = append(dst, '}')
	}
	if a.agent != nil {
		dst = append(dst, `,"user_agent":{"original":`...)
		dst, _ = jsonx.AppendString(dst, a.agent)
		dst = append(dst, '}')
	}
	return dst
}
