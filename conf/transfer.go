package conf

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Transfer is /etc/logagent/transfer.yaml: what logtransfer consumes from
// Kafka and how it indexes it.
type Transfer struct {
	Kafka Kafka `yaml:"kafka"`
	// GroupID is the Kafka consumer group; default logtransfer. Instances with
	// the same group share the topics' partitions.
	GroupID string `yaml:"group_id"`
	// SessionTimeout is how long the group waits for a silent (crashed)
	// instance before giving its partitions to the others; default 10s.
	// Heartbeats go every third of it.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// Topics are the Kafka topics consumed; default [web_log].
	Topics        []string      `yaml:"topics"`
	Elasticsearch Elasticsearch `yaml:"elasticsearch"`
	// Index names the index of an event: {topic} is the Kafka topic and {date}
	// the UTC date of the event's @timestamp as YYYY.MM.DD. Default
	// {topic}-{date}. The index template covers the pattern with {date} as *.
	Index string `yaml:"index"`
	// IndexSettings go into the index template, so every index created from
	// then on has them; existing indices keep theirs.
	IndexSettings IndexSettings `yaml:"index_settings"`
	Batch         Batch         `yaml:"batch"`
	// RetentionDays deletes the daily indices of the transfer's topics once
	// their date is more than this many days before today (UTC): with 7,
	// today's index and the 7 before it are kept. 0 (the default) never
	// deletes. Needs {date} in Index; only names that parse exactly as Index
	// with a date are ever deleted.
	RetentionDays int `yaml:"retention_days"`
	// DLQTopic names the dead-letter topic of a source topic ({topic});
	// default {topic}-dlq. It must exist: the transfer does not create it.
	DLQTopic string `yaml:"dlq_topic"`
	// Parse chooses per topic how "message" is parsed: json, nginx, combined
	// or none. Topics not listed are not parsed.
	Parse map[string]string `yaml:"parse"`
	// Pipelines are per topic the steps applied to each event before it is
	// indexed, after its parse mode (see Pipeline).
	Pipelines map[string]Pipeline `yaml:"pipelines"`
	// JSONTarget is the top-level field that receives a message parsed as
	// JSON; default json.
	JSONTarget string `yaml:"json_target"`
	// HTTPListen serves /metrics, /healthz and /readyz; default 127.0.0.1:9432.
	// "off" disables it.
	HTTPListen string `yaml:"http_listen"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
}

// Elasticsearch is how the transfer reaches the search engine.
type Elasticsearch struct {
	// URLs are the nodes' base URLs; default http://127.0.0.1:9200. A path is
	// kept (ZincSearch serves the API under /es).
	URLs []string `yaml:"urls"`
	// Username and Password turn on basic auth.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// APIKey is sent as "Authorization: ApiKey <value>": the base64 "encoded"
	// value Elasticsearch returns when the key is created. Not with Username.
	APIKey Secret `yaml:"api_key"`
	TLS    TLS    `yaml:"tls"`
	// Sniff discovers the other nodes of the cluster from the first URL;
	// default false (it breaks behind proxies and in containers).
	Sniff bool `yaml:"sniff"`
	// Timeout bounds one HTTP request, so a hung node cannot stall the
	// transfer forever; default 1m.
	Timeout time.Duration `yaml:"timeout"`
}

// IndexSettings are settings of the indices the transfer writes to. Unset
// ones are left to the engine's defaults.
type IndexSettings struct {
	// NumberOfShards of each new index; 0 (default) leaves the engine's
	// (1 in Elasticsearch 7 and later). A daily index of a few GiB needs one.
	NumberOfShards int `yaml:"number_of_shards"`
	// NumberOfReplicas of each new index; unset leaves the engine's (1). Set
	// 0 on a single-node cluster, where a replica is never assigned and every
	// index stays yellow.
	NumberOfReplicas *int `yaml:"number_of_replicas"`
	// RefreshInterval is how soon indexed documents become searchable; unset
	// leaves the engine's (1s, and no refresh at all of shards nobody
	// searched for 30s, which setting 1s explicitly gives up). A longer one
	// (30s) costs the engine less.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
}

// Batch bounds one bulk request; a batch is sent when any limit is reached.
type Batch struct {
	// MaxDocs is the most documents per bulk; default 1000.
	MaxDocs int `yaml:"max_docs"`
	// MaxBytes is the most source bytes per bulk; default 5MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxWait is how long a partly filled batch waits for more; default 1s.
	MaxWait time.Duration `yaml:"max_wait"`
}

// Parse modes accepted in Transfer.Parse.
const (
	ParseNone     = "none"
	ParseJSON     = "json"
	ParseNginx    = "nginx"
	ParseCombined = "combined"
)

// LoadTransfer reads, defaults and validates a transfer config file.
func LoadTransfer(path string) (*Transfer, error) {
	var t Transfer
	if err := decodeFile(path, &t); err != nil {
		return nil, err
	}
	if err := t.SetDefaultsAndValidate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

// SetDefaultsAndValidate fills unset fields and checks the result.
func (t *Transfer) SetDefaultsAndValidate() error {
	t.Kafka.SetDefaults("logtransfer")
	setDefault(&t.GroupID, "logtransfer")
	setDefault(&t.SessionTimeout, 10*time.Second)
	if len(t.Topics) == 0 {
		t.Topics = []string{"web_log"}
	}
	es := &t.Elasticsearch
	if len(es.URLs) == 0 {
		es.URLs = []string{"http://127.0.0.1:9200"}
	}
	setDefault(&es.Timeout, time.Minute)
	setDefault(&t.Index, "{topic}-{date}")
	setDefault(&t.DLQTopic, "{topic}-dlq")
	setDefault(&t.JSONTarget, "json")
	setDefault(&t.HTTPListen, "127.0.0.1:9432")
	setDefault(&t.LogLevel, "info")
	setDefault(&t.Batch.MaxDocs, 1000)
	setDefault(&t.Batch.MaxBytes, 5<<20)
	setDefault(&t.Batch.MaxWait, time.Second)
	return t.validate()
}

func (t *Transfer) validate() error {
	if err := validateLogLevel(t.LogLevel); err != nil {
		return err
	}
	if err := t.Kafka.validate(); err != nil {
		return err
	}
	if t.SessionTimeout < time.Second {
		return fmt.Errorf("session_timeout: %v is too short (at least 1s)", t.SessionTimeout)
	}
	if strings.TrimSpace(t.GroupID) == "" {
		return fmt.Errorf("group_id: must not be empty")
	}
	for i, topic := range t.Topics {
		if err := ValidateTopicName(topic); err != nil {
			return fmt.Errorf("topics: %w", err)
		}
		if slices.Contains(t.Topics[:i], topic) {
			return fmt.Errorf("topics: %q is listed twice", topic)
		}
	}
	if err := t.Elasticsearch.validate(); err != nil {
		return err
	}
	if err := t.validateIndex(); err != nil {
		return err
	}
	if err := t.IndexSettings.validate(); err != nil {
		return err
	}
	if err := t.validateRetention(); err != nil {
		return err
	}
	if err := t.validateDLQTopic(); err != nil {
		return err
	}
	for topic, mode := range t.Parse {
		if !slices.Contains(t.Topics, topic) {
			return fmt.Errorf("parse: topic %q is not in topics %v", topic, t.Topics)
		}
		switch mode {
		case ParseNone, ParseJSON, ParseNginx, ParseCombined:
		default:
			return fmt.Errorf("parse.%s: %q is not one of json, nginx, combined, none", topic, mode)
		}
	}
	if err := t.validatePipelines(); err != nil {
		return err
	}
	if err := validateJSONTarget(t.JSONTarget); err != nil {
		return fmt.Errorf("json_target: %w", err)
	}
	if err := validateHTTPListen(t.HTTPListen); err != nil {
		return err
	}
	b := t.Batch
	if b.MaxDocs < 1 {
		return fmt.Errorf("batch.max_docs: must be at least 1")
	}
	if b.MaxBytes < 1<<10 {
		return fmt.Errorf("batch.max_bytes: %d is too small (at least 1KiB)", b.MaxBytes)
	}
	if b.MaxWait <= 0 {
		return fmt.Errorf("batch.max_wait: must be a positive duration such as 1s")
	}
	return nil
}

func (s IndexSettings) validate() error {
	if s.NumberOfShards < 0 || s.NumberOfShards > 1024 { // Elasticsearch's own limit
		return fmt.Errorf("index_settings.number_of_shards: %d is not between 1 and 1024 (or 0 for the engine's default)", s.NumberOfShards)
	}
	if s.NumberOfReplicas != nil && *s.NumberOfReplicas < 0 {
		return fmt.Errorf("index_settings.number_of_replicas: %d is negative", *s.NumberOfReplicas)
	}
	if s.RefreshInterval < 0 || s.RefreshInterval%time.Millisecond != 0 {
		return fmt.Errorf("index_settings.refresh_interval: %v is not a whole number of milliseconds such as 30s", s.RefreshInterval)
	}
	return nil
}

func (e *Elasticsearch) validate() error {
	for _, raw := range e.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("elasticsearch.urls: %q is not an http:// or https:// URL", raw)
		}
		if u.User != nil {
			// Credentials in a URL end up in logs; the fields below keep them secret.
			return fmt.Errorf("elasticsearch.urls: %q carries credentials; use elasticsearch.username and password", u.Redacted())
		}
	}
	if e.Password != "" && e.Username == "" {
		return fmt.Errorf("elasticsearch.username: required when elasticsearch.password is set")
	}
	if e.APIKey != "" && e.Username != "" {
		return fmt.Errorf("elasticsearch.api_key: set either api_key or username/password, not both")
	}
	if e.Timeout < 0 {
		return fmt.Errorf("elasticsearch.timeout: must be a positive duration such as 1m")
	}
	return e.TLS.validate("elasticsearch.tls")
}

// Secrets lists the transfer's credentials with their fields.
func (t *Transfer) Secrets() []NamedSecret {
	es := t.Elasticsearch
	return []NamedSecret{{"kafka.sasl.password", t.Kafka.SASL.Password}, {"elasticsearch.password", es.Password}, {"elasticsearch.api_key", es.APIKey}}
}

// IndexName expands the index pattern for one topic and date (YYYY.MM.DD,
// or a pattern such as "*"), as the transfer names a document's index.
func (t *Transfer) IndexName(topic, date string) string {
	p, err := CompileIndex(t.Index)
	if err != nil { // validation refused it already; keep the literal text
		return t.Index
	}
	return string(p.Append(nil, topic, []byte(date)))
}

// DLQTopicFor expands the dead-letter topic pattern for a source topic.
func (t *Transfer) DLQTopicFor(topic string) string {
	return strings.ReplaceAll(t.DLQTopic, "{topic}", topic)
}

func (t *Transfer) validateIndex() error {
	if err := onlyPlaceholders(t.Index, "{topic}", "{date}"); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	for _, topic := range t.Topics {
		name := t.IndexName(topic, "2006.01.02")
		if err := validateIndexName(name); err != nil {
			return fmt.Errorf("index: %q gives %q for topic %q: %w", t.Index, name, topic, err)
		}
	}
	return nil
}

func (t *Transfer) validateRetention() error {
	if t.RetentionDays < 0 {
		return fmt.Errorf("retention_days: %d is negative (0 keeps indices forever)", t.RetentionDays)
	}
	if t.RetentionDays > 0 && !strings.Contains(t.Index, "{date}") {
		// An index without a date in its name holds every day: it never
		// grows old, and deleting it would delete everything.
		return fmt.Errorf("retention_days: needs {date} in index %q to tell an index's age", t.Index)
	}
	return nil
}

func (t *Transfer) validateDLQTopic() error {
	if err := onlyPlaceholders(t.DLQTopic, "{topic}"); err != nil {
		return fmt.Errorf("dlq_topic: %w", err)
	}
	for _, topic := range t.Topics {
		dlq := t.DLQTopicFor(topic)
		if err := ValidateTopicName(dlq); err != nil {
			return fmt.Errorf("dlq_topic: for topic %q: %w", topic, err)
		}
		// A DLQ that is also consumed would feed rejected documents back in a loop.
		if slices.Contains(t.Topics, dlq) {
			return fmt.Errorf("dlq_topic: %q for topic %q is itself consumed", dlq, topic)
		}
	}
	return nil
}

// onlyPlaceholders rejects braces other than the allowed placeholders, which
// are most likely typos such as {topics}.
func onlyPlaceholders(pattern string, allowed ...string) error {
	rest := pattern
	for _, p := range allowed {
		rest = strings.ReplaceAll(rest, p, "")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%q has an unknown placeholder; allowed: %s", pattern, strings.Join(allowed, " "))
	}
	return nil
}

// validateIndexName applies Elasticsearch's index name rules.
func validateIndexName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("not a valid index name")
	case len(name) > 255:
		return fmt.Errorf("longer than 255 bytes")
	case strings.ToLower(name) != name:
		return fmt.Errorf("index names must be lower case")
	case strings.ContainsAny(name[:1], "-_+"):
		return fmt.Errorf("index names must not start with '-', '_' or '+'")
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return fmt.Errorf(`index names must not contain \ / * ? " < > | space , # :`)
	}
	return nil
}

func validateJSONTarget(f string) error {
	switch {
	case f == "":
		return fmt.Errorf("must not be empty")
	case strings.HasPrefix(f, "_"):
		return fmt.Errorf("%q: fields starting with '_' are reserved by Elasticsearch", f)
	case slices.Contains([]string{"@timestamp", "message", "host", "log", "event", "fields", "tags"}, f):
		return fmt.Errorf("%q is an envelope field", f)
	}
	return nil
}
