package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/proc"
	"github.com/logagent/logagent/internal/zincenv"
)

// zincHTTP is the client for ZincSearch queries. Searches are cheap, but
// Zinc answers slowly while it indexes a large backlog on a busy machine.
var zincHTTP = &http.Client{Timeout: 10 * time.Second}

// zincEnv is zincsearch-es's environment for the demo.
func zincEnv(o options, dataDir string) []string {
	return zincenv.Env(zincenv.Server{Port: o.zincPort, DataDir: dataDir, User: zincUser, Password: zincPassword})
}

// startZinc starts zincsearch-es on a fresh data dir and waits until its
// Elasticsearch API answers.
func (d *demo) startZinc(ctx context.Context, bin string) error {
	// Zinc reads a .env file from its working directory. It stops at the end
	// of its stdin, so it also stops if logdemo dies without Pdeathsig.
	o := proc.Options{Dir: d.l.zincDir, ReplaceEnv: zincEnv(d.o, d.l.zincDir), Stdin: true}
	var err error
	if d.zinc, err = proc.Start("zincsearch-es", d.l.zincLog, o, bin); err != nil {
		return err
	}
	// The cluster info at /es/ needs no auth; 200 means the API is up.
	return waitReady(ctx, d.zinc, d.search.base+"/", startTimeout)
}

// transferYAML is the subset of conf.Transfer the demo sets; the rest keeps
// logtransfer's defaults. Durations are strings, as people write them.
type transferYAML struct {
	Kafka struct {
		Brokers []string `yaml:"brokers"`
	} `yaml:"kafka"`
	GroupID        string   `yaml:"group_id"`
	SessionTimeout string   `yaml:"session_timeout"`
	Topics         []string `yaml:"topics"`
	Elasticsearch  struct {
		URLs     []string `yaml:"urls"`
		Username string   `yaml:"username"`
		Password string   `yaml:"password"`
	} `yaml:"elasticsearch"`
	Batch struct {
		MaxDocs int    `yaml:"max_docs"`
		MaxWait string `yaml:"max_wait"`
	} `yaml:"batch"`
	Parse      map[string]string           `yaml:"parse"`
	Pipelines  map[string][]map[string]any `yaml:"pipelines"`
	HTTPListen string                      `yaml:"http_listen"`
}

func (d *demo) writeTransferYAML() error {
	var t transferYAML
	t.Kafka.Brokers = d.brokers
	t.GroupID = transferGroup
	// Short, so a restarted demo transfer (or a second one started by
	// hand) gets its partitions soon; heartbeats go every third of it.
	t.SessionTimeout = "6s"
	t.Topics = []string{topic, appTopic}
	t.Elasticsearch.URLs = []string{d.search.base}
	t.Elasticsearch.Username = zincUser
	t.Elasticsearch.Password = zincPassword
	t.Batch.MaxDocs = 1000
	t.Batch.MaxWait = "500ms" // a demo's trickle shows up within a second
	t.Parse = map[string]string{topic: conf.ParseNginx}
	t.Pipelines = map[string][]map[string]any{appTopic: appPipeline}
	t.HTTPListen = fmt.Sprintf("127.0.0.1:%d", d.o.transferPort)
	b, err := yaml.Marshal(&t)
	if err != nil {
		return fmt.Errorf("encode transfer.yaml: %w", err)
	}
	b = append([]byte("# Written by logdemo on every run; edits are lost.\n"+
		"# The password is the demo ZincSearch's, which listens on 127.0.0.1 only.\n"), b...)
	if err := os.WriteFile(d.l.transferYAML, b, 0o600); err != nil {
		return fmt.Errorf("write transfer config: %w", err)
	}
	// Catch a config logtransfer would refuse here, with its exact message.
	if _, err := conf.LoadTransfer(d.l.transferYAML); err != nil {
		return fmt.Errorf("generated transfer config: %w", err)
	}
	return nil
}

// searchView queries the demo's ZincSearch through its Elasticsearch API.
type searchView struct {
	base string // http://127.0.0.1:PORT/es
}

// searchURL is the _search endpoint of the documents in the indices
// matching pattern.
func (s *searchView) searchURL(pattern string) string { return s.base + "/" + pattern + "/_search" }

type searchHit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
}

type searchResponse struct {
	Hits struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []searchHit `json:"hits"`
	} `json:"hits"`
	Error string `json:"error"`
}

// errNoIndex means no index matches the pattern yet: nothing was indexed.
var errNoIndex = errors.New("no index yet")

// query posts a search body for the access log's documents and decodes the
// answer.
func (s *searchView) query(ctx context.Context, body string) (*searchResponse, error) {
	return s.queryIn(ctx, indexPattern, body)
}

// queryIn posts a search body for the indices matching pattern.
func (s *searchView) queryIn(ctx context.Context, pattern, body string) (*searchResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.searchURL(pattern), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(zincUser, zincPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := zincHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("search: read answer: %w", err)
	}
	// Zinc answers 400 "no index found" for a pattern matching no index.
	if zincenv.NoIndex(resp.StatusCode, b) {
		return nil, errNoIndex
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("search: HTTP %s: %s", resp.Status, truncate(b, 300))
	}
	var r searchResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("search: decode answer: %w: %s", err, truncate(b, 300))
	}
	if r.Error != "" {
		return nil, fmt.Errorf("search: %s", r.Error)
	}
	return &r, nil
}

// countBody asks for the number of documents only. Zinc has no _count.
const countBody = `{"size":0,"track_total_hits":true,"query":{"match_all":{}}}`

// newestBody asks for the newest document (by the nginx line's time).
const newestBody = `{"size":1,"sort":[{"@timestamp":"desc"}],"query":{"match_all":{}}}`

// count is how many access-log documents are searchable now.
func (s *searchView) count(ctx context.Context) (int64, error) {
	return s.countIn(ctx, indexPattern, countBody)
}

// countIn is how many documents of the indices matching pattern body
// finds (countBody: all of them).
func (s *searchView) countIn(ctx context.Context, pattern, body string) (int64, error) {
	r, err := s.queryIn(ctx, pattern, body)
	if errors.Is(err, errNoIndex) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return r.Hits.Total.Value, nil
}

// newest returns the newest document.
func (s *searchView) newest(ctx context.Context) (*searchHit, error) {
	r, err := s.query(ctx, newestBody)
	if err != nil {
		return nil, err
	}
	if len(r.Hits.Hits) == 0 {
		return nil, errNoIndex
	}
	return &r.Hits.Hits[0], nil
}

// formatHit renders a document for people: where it is, the fields
// logtransfer parsed out of the nginx line, then the whole _source.
func formatHit(h *searchHit) string {
	var doc struct {
		Timestamp string `json:"@timestamp"`
		HTTP      struct {
			Request struct {
				Method string `json:"method"`
			} `json:"request"`
			Response struct {
				StatusCode *int `json:"status_code"`
			} `json:"response"`
		} `json:"http"`
		URL struct {
			Original string `json:"original"`
		} `json:"url"`
	}
	_ = json.Unmarshal(h.Source, &doc) // best effort: the _source is shown below anyway
	var b strings.Builder
	fmt.Fprintf(&b, "  index %s  _id %s\n", h.Index, h.ID)
	status := "?"
	if doc.HTTP.Response.StatusCode != nil {
		status = strconv.Itoa(*doc.HTTP.Response.StatusCode)
	}
	fmt.Fprintf(&b, "  http.response.status_code %s   http.request.method %s   url.original %s   @timestamp %s\n",
		status, doc.HTTP.Request.Method, doc.URL.Original, doc.Timestamp)
	var pretty bytes.Buffer
	if json.Indent(&pretty, h.Source, "  ", "  ") == nil {
		fmt.Fprintf(&b, "  _source\n  %s\n", pretty.String())
	} else {
		fmt.Fprintf(&b, "  _source  %s\n", printable(h.Source))
	}
	return b.String()
}

// curlSearch is a curl command line that runs body against the access
// log's documents, with the demo's credentials.
func (s *searchView) curlSearch(body string) string { return s.curlSearchIn(indexPattern, body) }

// curlSearchIn runs body against the indices matching pattern.
func (s *searchView) curlSearchIn(pattern, body string) string {
	return fmt.Sprintf("curl -s -u %s:%s '%s' -H 'Content-Type: application/json' -d '%s'",
		zincUser, zincPassword, s.searchURL(pattern), body)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
