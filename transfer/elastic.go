package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/jsonx"
)

// Elastic is the Indexer for Elasticsearch 7/8, OpenSearch and ZincSearch's
// /es API, through olivere/elastic v7. It is safe for concurrent use.
type Elastic struct {
	client *elastic.Client
	cfg    *conf.Transfer
	log    *slog.Logger
}

// NewElastic makes a client from cfg.Elasticsearch. It does not contact the
// engine (health checks are off) unless sniffing is on, which needs the first
// URL to answer now.
func NewElastic(cfg *conf.Transfer, log *slog.Logger) (*Elastic, error) {
	es := cfg.Elasticsearch
	tlsCfg, err := es.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("elasticsearch.tls.%w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	}
	tr.MaxIdleConnsPerHost = 8 // one consumer goroutine per partition shares the client
	hc := &http.Client{Transport: tr, Timeout: es.Timeout}

	opts := []elastic.ClientOptionFunc{
		elastic.SetURL(es.URLs...),
		elastic.SetSniff(es.Sniff),
		// IndexBatch owns retries and backoff; olivere's own would hide failures.
		elastic.SetHealthcheck(false),
		elastic.SetRetrier(revivedNodesRetrier{}),
		elastic.SetHttpClient(hc),
		elastic.SetErrorLog(olivereLog{log}),
	}
	if len(es.URLs) > 0 && strings.HasPrefix(es.URLs[0], "https://") {
		opts = append(opts, elastic.SetScheme("https")) // for sniffed node addresses
	}
	switch {
	case es.Username != "":
		pw, err := es.Password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("elasticsearch.password: %w", err)
		}
		opts = append(opts, elastic.SetBasicAuth(es.Username, pw))
	case es.APIKey != "":
		key, err := es.APIKey.Resolve()
		if err != nil {
			return nil, fmt.Errorf("elasticsearch.api_key: %w", err)
		}
		opts = append(opts, elastic.SetHeaders(http.Header{"Authorization": {"ApiKey " + key}}))
	}
	client, err := elastic.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return &Elastic{client: client, cfg: cfg, log: log}, nil
}

// Stop releases the client's background work (the sniffer, when on).
func (e *Elastic) Stop() { e.client.Stop() }

// revivedNodesRetrier retries, at once and only, a request olivere refused
// unsent with ErrNoClient. Without health checks olivere marks a node dead
// after one failed request; once every node is dead the next request fails
// unsent while it marks them all alive again. Retried here, that request is
// sent to the revived nodes; otherwise every other attempt after a failure
// would be lost unsent and cost IndexBatch a backoff step. Every other
// failure is returned to IndexBatch, which owns the retries.
type revivedNodesRetrier struct{}

func (revivedNodesRetrier) Retry(_ context.Context, retry int, _ *http.Request, _ *http.Response, err error) (time.Duration, bool, error) {
	// Bounded: other goroutines may mark the nodes dead again meanwhile.
	return 0, retry <= 3 && errors.Is(err, elastic.ErrNoClient), nil
}

// probeTimeout bounds one probe: a node that does not answer a HEAD / in
// this long counts as down.
const probeTimeout = 5 * time.Second

// Probe implements Indexer with HEAD /, which costs the engine nothing. Any
// answer below 500 counts, 401 or 404 included: the engine is there, and
// the bulk that follows reports what else is wrong.
func (e *Elastic) Probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := e.client.PerformRequest(pctx, elastic.PerformRequestOptions{Method: http.MethodHead, Path: "/"})
	var ee *elastic.Error
	if err == nil || errors.As(err, &ee) && ee.Status < http.StatusInternalServerError {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("probe: %w", ctx.Err())
	}
	return fmt.Errorf("probe: %w", err)
}

// bulkResponse is the _bulk answer. Error is not Elasticsearch's: ZincSearch
// sets it (a string, with HTTP 200 and errors:false) when a document aborted
// the bulk.
type bulkResponse struct {
	Errors bool            `json:"errors"`
	Error  json.RawMessage `json:"error"`
	// Items answer "index" actions, the only ones Bulk sends; a struct, not
	// a map per item, keeps decoding cheap.
	Items []struct {
		Index *bulkItem `json:"index"`
	} `json:"items"`
}

type bulkItem struct {
	ID     string          `json:"_id"`
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

type esError struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

// Bulk implements Indexer with "index" actions carrying explicit _index and
// _id, so a retried document overwrites itself instead of duplicating.
func (e *Elastic) Bulk(ctx context.Context, docs []Doc) ([]ItemResult, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	res, err := e.client.PerformRequest(ctx, elastic.PerformRequestOptions{
		Method:      http.MethodPost,
		Path:        "/_bulk",
		Body:        bulkBody(docs),
		ContentType: "application/x-ndjson",
	})
	if err != nil {
		return nil, requestError(ctx, err)
	}
	var resp bulkResponse
	if err := json.Unmarshal(res.Body, &resp); err != nil {
		return nil, &RequestError{Status: res.StatusCode, Err: fmt.Errorf("decode bulk response: %w", err)}
	}
	out := make([]ItemResult, 0, len(docs))
	inStep := true
	for i, m := range resp.Items {
		if i == len(docs) {
			break
		}
		it := m.Index
		if it == nil || (it.ID != "" && it.ID != docs[i].ID) {
			// Answers out of step with the request cannot be trusted: treat
			// this and the rest as unanswered, which retries them.
			answered := "(no index answer)"
			if it != nil {
				answered = it.ID
			}
			e.log.Warn("bulk response item does not match the request; retrying the rest",
				"position", i, "sent_id", docs[i].ID, "answered_id", answered)
			inStep = false
			break
		}
		r := ItemResult{Status: it.Status}
		r.Type, r.Reason = decodeItemError(it.Error)
		if r.Status == 0 && r.Type == "" {
			r.Status = http.StatusOK // an item without status or error: an engine that omits it
		}
		out = append(out, r)
	}
	if reason := abortReason(resp.Error); reason != "" && inStep && len(out) > 0 {
		// ZincSearch adds a document's item before writing it; when the write
		// fails it stops and reports the error here: its last item is the
		// document that was not stored.
		out[len(out)-1] = ItemResult{Type: "bulk_aborted", Reason: reason}
	}
	return out, nil
}

// bulkBody writes the NDJSON body: an action line and the source per doc.
func bulkBody(docs []Doc) string {
	n := 0
	for i := range docs {
		n += len(docs[i].Source) + len(docs[i].Index) + len(docs[i].ID) + 40
	}
	var b strings.Builder
	b.Grow(n)
	var line []byte
	for i := range docs {
		d := &docs[i]
		line = append(line[:0], `{"index":{"_index":`...)
		line, _ = jsonx.AppendString(line, []byte(d.Index))
		line = append(line, `,"_id":`...)
		line, _ = jsonx.AppendString(line, []byte(d.ID))
		line = append(line, "}}\n"...)
		b.Write(line)
		b.Write(d.Source)
		b.WriteByte('\n')
	}
	return b.String()
}

func decodeItemError(raw json.RawMessage) (typ, reason string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return "error", s
	}
	var ee esError
	if err := json.Unmarshal(raw, &ee); err != nil {
		return "error", string(raw)
	}
	reason = ee.Reason
	if ee.CausedBy != nil && ee.CausedBy.Reason != "" {
		reason += " (caused by " + ee.CausedBy.Type + ": " + ee.CausedBy.Reason + ")"
	}
	if ee.Type == "" {
		ee.Type = "error" // Zinc marshals a Go error as {}
	}
	return ee.Type, reason
}

func abortReason(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	_, reason := decodeItemError(raw)
	return reason
}

// requestError turns olivere's errors into *RequestError; a context error
// stays one, so callers can tell "stopped" from "failed".
func requestError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("bulk request: %w", ctx.Err())
	}
	var ee *elastic.Error
	if errors.As(err, &ee) {
		re := &RequestError{Status: ee.Status, Err: err}
		if ee.Details != nil {
			re.Type, re.Reason = ee.Details.Type, ee.Details.Reason
		}
		return re
	}
	return &RequestError{Err: err}
}

// PutTemplate installs a composable index template for the topic's indices
// (the index pattern with {date} as *), mapping the envelope, the parsed ECS
// fields and fields, the types the topic's pipeline declares (dotted path →
// int, float, bool, ip or string), so Kibana needs no mapping work.
func (e *Elastic) PutTemplate(ctx context.Context, topic string, fields map[string]string) error {
	pattern := e.cfg.IndexName(topic, "*")
	body, err := TemplateBody(pattern, e.cfg.IndexSettings, fields)
	if err != nil {
		return err
	}
	name := templateName(topic)
	if _, err := e.client.IndexPutIndexTemplate(name).BodyString(body).Do(ctx); err != nil {
		return fmt.Errorf("put index template %s for %s: %w", name, pattern, err)
	}
	return nil
}

// TemplateBody is the index template PutTemplate installs for an index
// pattern such as web_log-*, with the settings that are set. It is exported so that assets relying on its
// field names and types (deploy/kibana) can be checked against it.
//
// Its priority grows with the pattern's length: overlapping composable
// templates must not share a priority, and the longer pattern ("web-x-*"
// over "web-*") is the more specific. The base 200 stays above
// Elasticsearch's built-in logs-*-* (100).
func TemplateBody(pattern string, settings conf.IndexSettings, fields map[string]string) (string, error) {
	type m = map[string]any
	keyword := m{"type": "keyword"}
	long := m{"type": "long"}
	obj := func(props m) m { return m{"properties": props} }
	body := m{
		"index_patterns": []string{pattern},
		"priority":       200 + len(pattern),
		"template": m{
			"mappings": m{
				"properties": m{
					"@timestamp": m{"type": "date"},
					"message":    m{"type": "text"},
					"tags":       keyword,
					"host":       obj(m{"name": keyword}),
					"log": obj(m{
						"file":   obj(m{"path": keyword}),
						"offset": long,
						"flags":  keyword,
					}),
					"event":  obj(m{"id": keyword}),
					"source": obj(m{"address": keyword}),
					"user":   obj(m{"name": keyword}),
					"url":    obj(m{"original": keyword}),
					"http": obj(m{
						"version": keyword,
						"request": obj(m{"method": keyword, "referrer": keyword}),
						"response": obj(m{
							"status_code": long,
							"body":        obj(m{"bytes": long}),
						}),
					}),
					"user_agent": obj(m{"original": keyword}),
				},
			},
		},
	}
	props := body["template"].(m)["mappings"].(m)["properties"].(m)
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		addProperty(props, strings.Split(f, "."), m{"type": mappingTypes[fields[f]]})
	}
	if s := templateSettings(settings); len(s) > 0 {
		body["template"].(m)["settings"] = s
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("index template: %w", err)
	}
	return string(b), nil
}

// mappingTypes are the engine's types of the pipeline's field types.
var mappingTypes = map[string]string{"int": "long", "float": "double", "bool": "boolean", "ip": "ip", "string": "keyword"}

// addProperty maps one dotted field into props, through (or over) the
// objects on its way.
func addProperty(props map[string]any, path []string, mapping map[string]any) {
	for _, key := range path[:len(path)-1] {
		obj, _ := props[key].(map[string]any)
		if obj == nil || obj["properties"] == nil {
			obj = map[string]any{"properties": map[string]any{}}
			props[key] = obj
		}
		props = obj["properties"].(map[string]any)
	}
	props[path[len(path)-1]] = mapping
}

// templateSettings are the index settings in Elasticsearch's names, only
// those set. Flat names, not "index.…": ZincSearch reads only these.
func templateSettings(s conf.IndexSettings) map[string]any {
	out := map[string]any{}
	if s.NumberOfShards > 0 {
		out["number_of_shards"] = s.NumberOfShards
	}
	if s.NumberOfReplicas != nil {
		out["number_of_replicas"] = *s.NumberOfReplicas
	}
	if d := s.RefreshInterval; d > 0 {
		// Elasticsearch's time units; a Go duration such as 1m0s is not one.
		if d%time.Second == 0 {
			out["refresh_interval"] = strconv.FormatInt(int64(d/time.Second), 10) + "s"
		} else {
			out["refresh_interval"] = strconv.FormatInt(d.Milliseconds(), 10) + "ms"
		}
	}
	return out
}

// olivereLog forwards olivere's error log ("node is dead", …) at debug
// level: IndexBatch reports the failures that matter.
type olivereLog struct{ l *slog.Logger }

func (o olivereLog) Printf(format string, v ...any) {
	o.l.Debug(fmt.Sprintf(format, v...), "component", "olivere")
}
