package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/olivere/elastic/v7"
)

func zincClient(t *testing.T, z *Zinc) *elastic.Client {
	t.Helper()
	c, err := elastic.NewClient(
		elastic.SetURL(z.URL()),
		elastic.SetSniff(false),
		elastic.SetHealthcheck(false),
		elastic.SetBasicAuth(z.User(), z.Password()),
	)
	if err != nil {
		t.Fatalf("elastic.NewClient: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

type zincTestDoc struct {
	Timestamp time.Time `json:"@timestamp"`
	Level     string    `json:"level"`
	Msg       string    `json:"msg"`
	N         int       `json:"n"`
	Rev       int       `json:"rev"`
}

// bulkIndex indexes n documents with ids doc-0000... into index and checks
// that Zinc answered for every one (it acknowledges a bulk it aborted half
// way with errors:false and fewer items).
func bulkIndex(t *testing.T, c *elastic.Client, index string, n, rev int) {
	t.Helper()
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	bulk := c.Bulk()
	for i := range n {
		level := "INFO"
		if i%10 == 0 {
			level = "ERROR"
		}
		bulk.Add(elastic.NewBulkIndexRequest().Index(index).Id(fmt.Sprintf("doc-%04d", i)).Doc(zincTestDoc{
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Level:     level,
			Msg:       fmt.Sprintf("line %d revision %d", i, rev),
			N:         i,
			Rev:       rev,
		}))
	}
	resp, err := bulk.Do(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	if resp.Errors || len(resp.Items) != n {
		t.Fatalf("bulk: errors=%v, %d items for %d documents", resp.Errors, len(resp.Items), n)
	}
	for _, item := range resp.Items {
		for op, r := range item {
			if r.Status < 200 || r.Status > 299 {
				t.Fatalf("bulk %s %s: status %d: %+v", op, r.Id, r.Status, r.Error)
			}
		}
	}
}

// countRev counts the searchable documents with the given rev.
func countRev(t *testing.T, z *Zinc, pattern string, rev int) int {
	t.Helper()
	n := 0
	for _, src := range z.Search(t, pattern, `{"size":5000,"query":{"match_all":{}}}`) {
		var d zincTestDoc
		if err := json.Unmarshal(src, &d); err != nil {
			t.Fatalf("decode _source %s: %v", src, err)
		}
		if d.Rev == rev {
			n++
		}
	}
	return n
}

func checkIDs(t *testing.T, z *Zinc, pattern string, want int) {
	t.Helper()
	ids := z.IDs(t, pattern)
	if len(ids) != want {
		t.Errorf("IDs(%s): %d distinct ids, want %d", pattern, len(ids), want)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("IDs(%s): id %s on %d documents", pattern, id, n)
		}
	}
}

func TestZincBulkIdempotentRestartTemplate(t *testing.T) {
	t.Parallel()
	start := time.Now()
	z := StartZinc(t)
	t.Logf("zinc ready in %v at %s", time.Since(start).Round(time.Millisecond), z.URL())
	c := zincClient(t, z)
	const (
		pattern = "zt-*"
		index   = "zt-2026.11.26"
		docs    = 1000
	)

	// The API wants credentials.
	resp, err := http.Post(z.URL()+"/"+index+"/_search", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("search without credentials: HTTP %d, want 401", resp.StatusCode)
	}
	if n := z.Count(t, pattern); n != 0 {
		t.Fatalf("Count before any index exists = %d, want 0", n)
	}

	// A composable template, applied when the bulk auto-creates the index.
	// (Zinc answers {"message":"ok"}, so olivere reports Acknowledged=false.)
	_, err = c.IndexPutIndexTemplate("zt").BodyString(`{
		"index_patterns": ["zt-*"],
		"priority": 1,
		"template": {
			"settings": {"number_of_shards": 1},
			"mappings": {"properties": {
				"@timestamp": {"type": "date"},
				"level": {"type": "keyword"},
				"msg": {"type": "text"},
				"n": {"type": "long"},
				"rev": {"type": "long"}
			}}
		}
	}`).Do(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatalf("PUT _index_template: %v", err)
	}
	// (olivere's IndexTemplateExists asks the legacy _template API, which
	// Zinc does not have.)
	if status, body := z.do(t, http.MethodGet, "/_index_template/zt", ""); status != http.StatusOK {
		t.Fatalf("GET _index_template/zt: HTTP %d: %s", status, body)
	}

	bulkIndex(t, c, index, docs, 1)
	waitCount(t, z, pattern, docs)
	checkIDs(t, z, pattern, docs)

	// The template's keyword mapping is in force: a term query matches the
	// exact, upper-case value (a dynamically mapped text field would only
	// hold the lower-cased token).
	if got := len(z.Search(t, index, `{"size":2000,"query":{"term":{"level":"ERROR"}}}`)); got != docs/10 {
		t.Errorf("term level=ERROR: %d hits, want %d (template mapping not applied?)", got, docs/10)
	}
	// (olivere's GetMapping asks /{index}/_mapping/_all, which Zinc lacks.)
	status, body := z.do(t, http.MethodGet, "/"+index+"/_mapping", "")
	var mapping map[string]any
	if err := json.Unmarshal(body, &mapping); status != http.StatusOK || err != nil {
		t.Fatalf("GET %s/_mapping: HTTP %d, %v: %s", index, status, err, body)
	}
	if typ := fieldType(mapping, index, "level"); typ != "keyword" {
		b, _ := json.Marshal(mapping)
		t.Errorf("level is mapped as %v, want keyword; mapping: %s", typ, b)
	}

	// Indexing the same ids again overwrites: still one document per id.
	bulkIndex(t, c, index, docs, 2)
	var rev2 int
	Eventually(t, 15*time.Second, func() bool { rev2 = countRev(t, z, pattern, 2); return rev2 == docs },
		"documents with rev 2 = %v, want %d", lazy(func() any { return rev2 }), docs)
	if n := z.Count(t, pattern); n != docs {
		t.Errorf("Count after re-indexing the same ids = %d, want %d", n, docs)
	}
	checkIDs(t, z, pattern, docs)

	// Data survives a restart on the same URL.
	start = time.Now()
	z.Restart(t)
	t.Logf("zinc restarted in %v", time.Since(start).Round(time.Millisecond))
	waitCount(t, z, pattern, docs)
	if n := countRev(t, z, pattern, 2); n != docs {
		t.Errorf("after restart %d documents have rev 2, want %d", n, docs)
	}
	checkIDs(t, z, pattern, docs)
	// The same client keeps working, and the index keeps its template mapping.
	bulkIndex(t, c, "zt-2026.11.27", 1, 3)
	waitCount(t, z, pattern, docs+1)
	if ids := z.IDs(t, pattern); ids["doc-0000"] != 2 {
		t.Errorf("doc-0000 in two indexes: IDs counts %d, want 2", ids["doc-0000"])
	}

	z.Stop()
	z.Stop() // idempotent
}

// lazy formats as the value its function returns when the message is
// printed, so a failure message shows the last polled value.
type lazy func() any

func (l lazy) String() string { return fmt.Sprint(l()) }

// waitCount polls Count until it is want.
func waitCount(t *testing.T, z *Zinc, pattern string, want int64) {
	t.Helper()
	var got int64
	Eventually(t, 15*time.Second, func() bool { got = z.Count(t, pattern); return got == want },
		"Count(%s) = %v, want %d", pattern, lazy(func() any { return got }), want)
}

// fieldType digs the type of field out of a GET _mapping answer.
func fieldType(mapping map[string]any, index, field string) any {
	m, _ := mapping[index].(map[string]any)
	m, _ = m["mappings"].(map[string]any)
	m, _ = m["properties"].(map[string]any)
	m, _ = m[field].(map[string]any)
	return m["type"]
}
