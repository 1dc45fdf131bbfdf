package transfer

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/testenv"
)

func TestElasticPutTemplate(t *testing.T) {
	srv := newFaultServer(t, allOK)
	cfg := testConfig(t, srv.URL+"/es", nil) // a path prefix, as ZincSearch serves
	if err := newElastic(t, cfg).PutTemplate(t.Context(), "web_log", nil); err != nil {
		t.Fatal(err)
	}
	templates, _, paths := srv.seen()
	body, ok := templates["logtransfer-web_log"]
	if !ok || paths[0] != "/es/_index_template/logtransfer-web_log" {
		t.Fatalf("templates %v at %v", templates, paths)
	}
	var tpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Priority      int      `json:"priority"`
		Template      struct {
			Mappings map[string]any   `json:"mappings"`
			Settings *json.RawMessage `json:"settings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &tpl); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tpl.IndexPatterns, []string{"web_log-*"}) || tpl.Priority <= 200 {
		t.Errorf("patterns %v priority %d", tpl.IndexPatterns, tpl.Priority)
	}
	if tpl.Template.Settings != nil {
		t.Errorf("settings %s without index_settings, want none (the engine's defaults)", *tpl.Template.Settings)
	}
	for path, typ := range templateTypes {
		if got := mappingType(tpl.Template.Mappings, path); got != typ {
			t.Errorf("mapping of %s: %v, want %s", path, got, typ)
		}
	}

	// A custom index pattern gives the template its pattern.
	cfg.Index = "logs-{topic}-{date}"
	if err := newElastic(t, cfg).PutTemplate(t.Context(), "app", nil); err != nil {
		t.Fatal(err)
	}
	templates, _, _ = srv.seen()
	if !strings.Contains(string(templates["logtransfer-app"]), `"index_patterns":["logs-app-*"]`) {
		t.Errorf("custom pattern template: %s", templates["logtransfer-app"])
	}

	// index_settings reach the template in Elasticsearch's names and units.
	zero := 0
	cfg.IndexSettings = conf.IndexSettings{NumberOfShards: 3, NumberOfReplicas: &zero, RefreshInterval: 30 * time.Second}
	if err := newElastic(t, cfg).PutTemplate(t.Context(), "app", nil); err != nil {
		t.Fatal(err)
	}
	templates, _, _ = srv.seen()
	const wantSettings = `"settings":{"number_of_replicas":0,"number_of_shards":3,"refresh_interval":"30s"}`
	if !strings.Contains(string(templates["logtransfer-app"]), wantSettings) {
		t.Errorf("template with index_settings: %s\nwant it to hold %s", templates["logtransfer-app"], wantSettings)
	}
}

// zincConfig is a transfer config for z with its admin's credentials.
func zincConfig(t *testing.T, z *testenv.Zinc) *conf.Transfer {
	t.Helper()
	cfg := testConfig(t, z.URL(), nil)
	cfg.Elasticsearch.Username, cfg.Elasticsearch.Password = z.User(), conf.Secret(z.Password())
	return cfg
}

// TestTemplateTypesZincIndices: the template PutTemplate installs is what
// ZincSearch types a new index's fields by (its dynamic mapping would make
// every string text only); Zinc calls long "numeric".
func TestTemplateTypesZincIndices(t *testing.T) {
	z := testenv.StartZinc(t)
	cfg := zincConfig(t, z)
	es := newElastic(t, cfg)
	if err := es.PutTemplate(t.Context(), "web_log", nil); err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		IndexPatterns []string `json:"index_patterns"`
	}
	z.GetJSON(t, "/_index_template/logtransfer-web_log", &tpl)
	if !slices.Equal(tpl.IndexPatterns, []string{"web_log-*"}) {
		t.Fatalf("template patterns %v, want [web_log-*]", tpl.IndexPatterns)
	}
	docs := testDocs(t, cfg, 1)
	if _, err := es.Bulk(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	var mappings map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	z.GetJSON(t, "/"+docs[0].Index+"/_mapping", &mappings)
	props := mappings[docs[0].Index].Mappings
	for path, typ := range templateTypes {
		if typ == "long" {
			typ = "numeric"
		}
		if got := mappingType(props, path); got != typ {
			t.Errorf("%s of %s: %v, want %s (mappings %v)", path, docs[0].Index, got, typ, props)
		}
	}
}

// templateTypes are the field types the index template promises (DESIGN).
var templateTypes = map[string]string{
	"@timestamp": "date", "message": "text", "host.name": "keyword", "log.file.path": "keyword",
	"event.id": "keyword", "source.address": "keyword", "http.request.method": "keyword", "url.original": "keyword",
	"log.offset": "long", "http.response.status_code": "long", "http.response.body.bytes": "long",
}

// mappingType is the type of the dotted field path in mappings (nested
// "properties"), nil when absent.
func mappingType(mappings map[string]any, path string) any {
	return field(mappings, "properties."+strings.ReplaceAll(path, ".", ".properties.")+".type")
}

// TestZincBasicAuth: ZincSearch takes the configured user and password, and
// refuses a wrong or missing one with a 401 the transfer retries as a
// failure that needs an operator, never as the documents' fault.
func TestZincBasicAuth(t *testing.T) {
	z := testenv.StartZinc(t)
	cfg := zincConfig(t, z)
	docs := testDocs(t, cfg, 2)
	if _, err := newElastic(t, cfg).Bulk(t.Context(), docs); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	for _, pw := range []conf.Secret{"wrong-password", ""} {
		cfg.Elasticsearch.Password = pw
		es := newElastic(t, cfg)
		_, err := es.Bulk(t.Context(), docs)
		var re *RequestError
		if !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
			t.Fatalf("password %q: %v, want a 401 RequestError", pw, err)
		}
		if failure, operator := ClassifyRequestError(err); failure != RetryRequest || !operator {
			t.Errorf("password %q: classified %v (operator %v), want a retry that needs an operator", pw, failure, operator)
		}
		if err := es.PutTemplate(t.Context(), "web_log", nil); err == nil {
			t.Errorf("password %q: template installed", pw)
		}
	}
}

// TestIndexSettingsReachNewIndices: ZincSearch creates an index from the
// template with the configured shards and replicas.
func TestIndexSettingsReachNewIndices(t *testing.T) {
	z := testenv.StartZinc(t)
	cfg := zincConfig(t, z)
	two := 2
	cfg.IndexSettings = conf.IndexSettings{NumberOfShards: 3, NumberOfReplicas: &two, RefreshInterval: 1500 * time.Millisecond}
	es := newElastic(t, cfg)
	if err := es.PutTemplate(t.Context(), "web_log", nil); err != nil {
		t.Fatal(err)
	}
	docs := testDocs(t, cfg, 1)
	if _, err := es.Bulk(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	var got map[string]struct {
		Settings struct {
			Shards   int `json:"number_of_shards"`
			Replicas int `json:"number_of_replicas"`
		} `json:"settings"`
	}
	z.GetJSON(t, "/"+docs[0].Index+"/_settings", &got)
	if s := got[docs[0].Index].Settings; s.Shards != 3 || s.Replicas != 2 {
		t.Errorf("settings of %s: %+v, want 3 shards and 2 replicas (response %+v)", docs[0].Index, s, got)
	}
}

func TestElasticAuth(t *testing.T) {
	srv := newFaultServer(t, allOK)
	t.Setenv("LOGAGENT_TEST_ES_KEY", "aWQ6a2V5")
	cfg := testConfig(t, srv.URL, nil)
	docs := testDocs(t, cfg, 1)

	cfg.Elasticsearch.Username, cfg.Elasticsearch.Password = "elastic", "changeme"
	if _, err := newElastic(t, cfg).Bulk(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	cfg.Elasticsearch.Username, cfg.Elasticsearch.Password = "", ""
	cfg.Elasticsearch.APIKey = conf.Secret("env:LOGAGENT_TEST_ES_KEY")
	if _, err := newElastic(t, cfg).Bulk(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	if _, auth, _ := srv.seen(); !slices.Equal(auth, []string{"Basic ZWxhc3RpYzpjaGFuZ2VtZQ==", "ApiKey aWQ6a2V5"}) {
		t.Errorf("Authorization headers %q, want basic then API key", auth)
	}
}

func TestElasticBulkAnswers(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []ItemResult
	}{
		{"per-item errors with caused_by",
			`{"errors":true,"items":[{"index":{"_id":"d00","status":201}},{"index":{"_id":"d01","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse","caused_by":{"type":"number_format_exception","reason":"For input string: \"x\""}}}}]}`,
			[]ItemResult{{Status: 201}, {Status: 400, Type: "mapper_parsing_exception", Reason: `failed to parse (caused by number_format_exception: For input string: "x")`}}},
		{"items out of step are cut",
			`{"errors":false,"items":[{"index":{"_id":"d00","status":201}},{"index":{"_id":"other","status":201}}]}`,
			[]ItemResult{{Status: 201}}},
		{"zinc abort marks its last item",
			`{"errors":false,"error":"field [n] was set type to [numeric]","items":[{"index":{"_id":"d00","status":200}},{"index":{"_id":"d01","status":200}}]}`,
			[]ItemResult{{Status: 200}, {Type: "bulk_aborted", Reason: "field [n] was set type to [numeric]"}}},
		{"zinc abort on the last document",
			`{"errors":false,"error":"bad","items":[{"index":{"_id":"d00","status":200}},{"index":{"_id":"d01","status":200}},{"index":{"_id":"d02","status":200}}]}`,
			[]ItemResult{{Status: 200}, {Status: 200}, {Type: "bulk_aborted", Reason: "bad"}}},
		{"no items", `{"errors":false,"items":[]}`, []ItemResult{}},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tc.body))
		}))
		cfg := testConfig(t, srv.URL, nil)
		got, err := newElastic(t, cfg).Bulk(t.Context(), testDocs(t, cfg, 3))
		srv.Close()
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestElasticBulkRequestErrors(t *testing.T) {
	srv := newFaultServer(t, sequence(reply{status: 503, errType: "unavailable_shards_exception", reason: "no primary"}, reply{hangup: true}))
	cfg := testConfig(t, srv.URL, nil)
	e := newElastic(t, cfg)
	docs := testDocs(t, cfg, 2)

	_, err := e.Bulk(t.Context(), docs)
	var re *RequestError
	if !errors.As(err, &re) || re.Status != 503 || re.Type != "unavailable_shards_exception" || re.Reason != "no primary" {
		t.Errorf("503: %#v", err)
	}
	_, err = e.Bulk(t.Context(), docs)
	if !errors.As(err, &re) || re.Status != 0 {
		t.Errorf("hangup: %#v", err)
	}
	// The body is NDJSON with explicit _index and _id per document.
	if got := srv.calls(); len(got) != 2 || !slices.Equal(got[0], []string{"d00", "d01"}) {
		t.Errorf("requests %v", got)
	}
}

// TestElasticSendsAfterAFailedRequest: a request the engine hung up on makes
// olivere mark the only node dead; the next request must still be sent, not
// fail unsent with "no available connection".
func TestElasticSendsAfterAFailedRequest(t *testing.T) {
	srv := newFaultServer(t, sequence(reply{hangup: true}))
	cfg := testConfig(t, srv.URL, nil)
	e := newElastic(t, cfg)
	docs := testDocs(t, cfg, 2)

	if _, err := e.Bulk(t.Context(), docs); err == nil {
		t.Fatal("no error for a hangup")
	}
	if _, err := e.Bulk(t.Context(), docs); err != nil {
		t.Fatalf("the request after a hangup: %v", err)
	}
	if n := len(srv.calls()); n != 2 {
		t.Errorf("%d requests reached the server, want 2", n)
	}
}

// TestElasticProbe: any answer of the engine counts (the fault server has no
// handler for HEAD / and answers 404); none does not, and a probe after a
// failed one is sent again.
func TestElasticProbe(t *testing.T) {
	srv := newFaultServer(t, allOK)
	e := newElastic(t, testConfig(t, srv.URL, nil))

	if err := e.Probe(t.Context()); err != nil {
		t.Fatalf("probe of an answering engine: %v", err)
	}
	srv.setDown(true)
	for i := range 2 {
		before := srv.hungUp(http.MethodHead, "/")
		if err := e.Probe(t.Context()); err == nil {
			t.Fatal("probe of an engine that hangs up: no error")
		}
		if srv.hungUp(http.MethodHead, "/") == before {
			t.Errorf("probe %d did not reach the down server", i+1)
		}
	}
	srv.setDown(false)
	if err := e.Probe(t.Context()); err != nil {
		t.Fatalf("probe once the engine answers again: %v", err)
	}
}
