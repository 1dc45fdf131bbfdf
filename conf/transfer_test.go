package conf

import (
	"strings"
	"testing"
	"time"
)

func TestLoadTransferDefaults(t *testing.T) {
	c, err := LoadTransfer(writeConfig(t, "kafka:\n  brokers: [\"k1:9092\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GroupID != "logtransfer" || len(c.Topics) != 1 || c.Topics[0] != "web_log" || c.Kafka.ClientID != "logtransfer" {
		t.Errorf("group/topics/client id: %q %v %q", c.GroupID, c.Topics, c.Kafka.ClientID)
	}
	es := c.Elasticsearch
	if len(es.URLs) != 1 || es.URLs[0] != "http://127.0.0.1:9200" || es.Sniff || es.Timeout != time.Minute {
		t.Errorf("elasticsearch defaults: %+v", es)
	}
	if c.Index != "{topic}-{date}" || c.DLQTopic != "{topic}-dlq" || c.JSONTarget != "json" {
		t.Errorf("index %q dlq %q json_target %q", c.Index, c.DLQTopic, c.JSONTarget)
	}
	if c.Batch.MaxDocs != 1000 || c.Batch.MaxBytes != 5<<20 || c.Batch.MaxWait != time.Second {
		t.Errorf("batch: %+v", c.Batch)
	}
	if c.RetentionDays != 0 {
		t.Errorf("retention_days %d, want 0 (off)", c.RetentionDays)
	}
	if c.HTTPListen != "127.0.0.1:9432" || c.LogLevel != "info" {
		t.Errorf("http_listen %q log_level %q", c.HTTPListen, c.LogLevel)
	}
	if got := c.IndexName("web_log", "2026.11.05"); got != "web_log-2026.11.05" {
		t.Errorf("IndexName = %q", got)
	}
	if got := c.DLQTopicFor("web_log"); got != "web_log-dlq" {
		t.Errorf("DLQTopicFor = %q", got)
	}
}

func TestLoadTransferFull(t *testing.T) {
	t.Setenv("LOGAGENT_TEST_ES_PW", "pw")
	body := `
kafka:
  brokers: ["k1:9092", "k2:9092"]
group_id: g1
topics: [web_log, app_log]
elasticsearch:
  urls: ["https://es1:9200", "http://127.0.0.1:4080/es"]
  username: elastic
  password: env:LOGAGENT_TEST_ES_PW
  sniff: true
  timeout: 30s
index: "logs-{topic}-{date}"
index_settings:
  number_of_shards: 2
  number_of_replicas: 0
  refresh_interval: 30s
retention_days: 30
batch:
  max_docs: 500
  max_bytes: 1MiB
  max_wait: 250ms
dlq_topic: dead-{topic}
parse:
  web_log: nginx
  app_log: json
json_target: payload
http_listen: off
log_level: debug
`
	c, err := LoadTransfer(writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if c.IndexName("app_log", "2026.01.02") != "logs-app_log-2026.01.02" || c.DLQTopicFor("web_log") != "dead-web_log" {
		t.Errorf("patterns: %q %q", c.Index, c.DLQTopic)
	}
	if pw, err := c.Elasticsearch.Password.Resolve(); err != nil || pw != "pw" {
		t.Errorf("password: %q %v", pw, err)
	}
	if s := c.IndexSettings; s.NumberOfShards != 2 || s.NumberOfReplicas == nil || *s.NumberOfReplicas != 0 || s.RefreshInterval != 30*time.Second {
		t.Errorf("index_settings: %+v", s)
	}
	if c.Parse["web_log"] != ParseNginx || c.JSONTarget != "payload" || c.Batch.MaxBytes != 1<<20 || !c.Elasticsearch.Sniff || c.RetentionDays != 30 {
		t.Errorf("parsed: %+v", c)
	}
}

func TestLoadTransferErrorsNameTheField(t *testing.T) {
	const k = "kafka:\n  brokers: [\"k:1\"]\n"
	cases := []struct{ body, want string }{
		{"kafka:\n  brokers: []\n", "kafka.brokers"},
		{k + "group_id: \" \"\n", "group_id"},
		{k + "topics: [\"a b\"]\n", "topics: \"a b\""},
		{k + "topics: [a, a]\n", "topics: \"a\" is listed twice"},
		{k + "topics: [Web]\n", "index names must be lower case"},
		{k + "index: \"{topic}-{day}\"\n", "index: \"{topic}-{day}\" has an unknown placeholder"},
		{k + "index: \"_{topic}\"\n", "index:"},
		{k + "dlq_topic: \"{topic}\"\n", "dlq_topic: \"web_log\" for topic \"web_log\" is itself consumed"},
		{k + "dlq_topic: \"{topic}/dlq\"\n", "dlq_topic: for topic"},
		{k + "parse:\n  other: json\n", "parse: topic \"other\" is not in topics"},
		{k + "parse:\n  web_log: xml\n", "parse.web_log"},
		{k + "json_target: message\n", "json_target"},
		{k + "index_settings:\n  number_of_shards: 2000\n", "index_settings.number_of_shards: 2000 is not between 1 and 1024"},
		{k + "index_settings:\n  number_of_replicas: -1\n", "index_settings.number_of_replicas: -1 is negative"},
		{k + "index_settings:\n  refresh_interval: -1s\n", "index_settings.refresh_interval: -1s"},
		{k + "index_settings:\n  refresh_interval: 10us\n", "index_settings.refresh_interval: 10µs is not a whole number of milliseconds"},
		{k + "index_settings:\n  refresh_interval: 1500us\n", "index_settings.refresh_interval: 1.5ms"},
		{k + "index_settings:\n  shards: 2\n", "field shards not found"},
		{k + "json_target: _source\n", "json_target"},
		{k + "elasticsearch:\n  urls: [\"127.0.0.1:9200\"]\n", "elasticsearch.urls"},
		{k + "elasticsearch:\n  urls: [\"http://u:p@es:9200\"]\n", "elasticsearch.urls: \"http://u:xxxxx@es:9200\" carries credentials"},
		{k + "elasticsearch:\n  password: x\n", "elasticsearch.username"},
		{k + "elasticsearch:\n  username: u\n  api_key: x\n", "elasticsearch.api_key"},
		{k + "elasticsearch:\n  tls:\n    enabled: true\n    key_file: /x\n", "elasticsearch.tls: cert_file and key_file"},
		{k + "elasticsearch:\n  urlz: []\n", "field urlz not found"},
		{k + "batch:\n  max_docs: -1\n", "batch.max_docs"},
		{k + "batch:\n  max_bytes: 12\n", "batch.max_bytes"},
		{k + "batch:\n  max_wait: -1s\n", "batch.max_wait"},
		{k + "http_listen: 9432\n", "http_listen"},
		{k + "log_level: loud\n", "log_level"},
		{k + "retention_dayz: 3\n", "field retention_dayz not found"},
		{k + "retention_days: -1\n", "retention_days: -1 is negative"},
		{k + "retention_days: 7\nindex: \"{topic}-all\"\n", "retention_days: needs {date} in index \"{topic}-all\""},
	}
	for _, c := range cases {
		_, err := LoadTransfer(writeConfig(t, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: error %v, want it to mention %q", c.body, err, c.want)
		}
	}
}
