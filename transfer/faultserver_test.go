package transfer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// faultServer answers _bulk the way Elasticsearch documents it, with faults
// scripted per test: per-item errors (429, 400 mapping errors, index blocks),
// whole-request errors (5xx, 429, 413), dropped connections, and ZincSearch's
// abort (HTTP 200, errors:false, top-level "error", later items missing).
// It remembers which documents it stored and every request's ids.
type faultServer struct {
	*httptest.Server
	script script

	mu        sync.Mutex
	requests  [][]string         // ids per _bulk request, in order
	stored    map[string]bulkDoc // id → last stored document
	templates map[string][]byte  // name → body of PUT _index_template
	auth      []string           // Authorization header per request
	paths     []string           // request paths
	stores    map[string]int     // id → times stored
	down      bool               // every request is hung up on, unanswered
	unheard   map[string]int     // "METHOD path" → requests hung up on while down
}

type bulkDoc struct {
	Index, ID string
	Source    json.RawMessage
}

// script decides the answer to the call-th (from 1) _bulk request.
type script func(call int, docs []bulkDoc) reply

// reply is one scripted answer.
type reply struct {
	// status and errType/reason make a whole-request error (status != 0).
	status          int
	errType, reason string
	// hangup closes the connection without an answer.
	hangup bool
	// items answer per document; nil answers every document 201. Fewer items
	// than documents leaves the rest out of the response.
	items []item
	// zincError is ZincSearch's top-level "error": the last item answered was
	// not stored (Zinc adds an item before writing the document).
	zincError string
}

type item struct {
	status          int
	errType, reason string
}

var created = item{status: 201}

func newFaultServer(t *testing.T, s script) *faultServer {
	t.Helper()
	f := &faultServer{script: s, stored: map[string]bulkDoc{}, templates: map[string][]byte{}, stores: map[string]int{}, unheard: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve)) // binds 127.0.0.1
	t.Cleanup(f.Close)
	return f
}

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.paths = append(f.paths, r.URL.Path)
	down := f.down
	if down {
		f.unheard[r.Method+" "+r.URL.Path]++
	}
	f.mu.Unlock()
	switch {
	case down:
		hangUp(w)
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/_index_template/"):
		body, _ := io.ReadAll(r.Body)
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		f.mu.Lock()
		f.templates[name] = body
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
		f.bulk(w, r)
	default:
		writeJSON(w, 404, esErrorBody(404, "resource_not_found_exception", "no handler for "+r.URL.Path))
	}
}

func (f *faultServer) bulk(w http.ResponseWriter, r *http.Request) {
	docs, err := parseBulk(r.Body)
	if err != nil {
		writeJSON(w, 400, esErrorBody(400, "illegal_argument_exception", err.Error()))
		return
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	f.mu.Lock()
	f.requests = append(f.requests, ids)
	call := len(f.requests)
	f.mu.Unlock()

	rep := f.script(call, docs)
	switch {
	case rep.hangup:
		hangUp(w)
		return
	case rep.status != 0:
		writeJSON(w, rep.status, esErrorBody(rep.status, rep.errType, rep.reason))
		return
	}
	items := rep.items
	if items == nil {
		items = make([]item, len(docs))
		for i := range items {
			items[i] = created
		}
	}
	items = items[:min(len(items), len(docs))]
	out := make([]map[string]any, len(items))
	anyErr := false
	f.mu.Lock()
	for i, it := range items {
		d := docs[i]
		m := map[string]any{"_index": d.Index, "_id": d.ID, "status": it.status}
		if it.status >= 200 && it.status < 300 {
			m["result"], m["_version"] = "created", 1
			m["_shards"] = map[string]int{"total": 2, "successful": 1, "failed": 0}
			if rep.zincError == "" || i < len(items)-1 {
				f.stored[d.ID] = d
				f.stores[d.ID]++
			}
		} else {
			anyErr = true
			m["error"] = map[string]any{"type": it.errType, "reason": it.reason, "index": d.Index}
		}
		out[i] = map[string]any{"index": m}
	}
	f.mu.Unlock()
	resp := map[string]any{"took": 3, "errors": anyErr, "items": out}
	if rep.zincError != "" {
		resp["error"] = rep.zincError
	}
	writeJSON(w, 200, resp)
}

// parseBulk reads the NDJSON body: action line, source line, per document.
func parseBulk(r io.Reader) ([]bulkDoc, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var docs []bulkDoc
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
			return nil, fmt.Errorf("action line: %w", err)
		}
		meta, ok := action["index"]
		if !ok || len(action) != 1 {
			return nil, fmt.Errorf("want one index action, got %s", sc.Bytes())
		}
		if !sc.Scan() {
			return nil, fmt.Errorf("action without source")
		}
		src := json.RawMessage(slices.Clone(sc.Bytes()))
		var obj map[string]any
		if err := json.Unmarshal(src, &obj); err != nil {
			return nil, fmt.Errorf("source of %s is not a JSON object: %w", meta.ID, err)
		}
		docs = append(docs, bulkDoc{Index: meta.Index, ID: meta.ID, Source: src})
	}
	return docs, sc.Err()
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// setDown makes the server hang up on every request (down) or answer again.
func (f *faultServer) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// hungUp is how many requests of this method and path (under the server's
// root) were hung up on while the server was down.
func (f *faultServer) hungUp(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unheard[method+" "+path]
}

func esErrorBody(status int, typ, reason string) map[string]any {
	e := map[string]any{"type": typ, "reason": reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{e}, "type": typ, "reason": reason}, "status": status}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// calls returns the ids of every _bulk request so far.
func (f *faultServer) calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// seen returns the templates stored, and the Authorization header and path
// of every request so far.
func (f *faultServer) seen() (templates map[string][]byte, auth, paths []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	templates = make(map[string][]byte, len(f.templates))
	for k, v := range f.templates {
		templates[k] = v
	}
	return templates, slices.Clone(f.auth), slices.Clone(f.paths)
}

func (f *faultServer) storedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.stored))
	for id := range f.stored {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Scripts.

func allOK(int, []bulkDoc) reply { return reply{} }

// perDoc answers each document with answer(doc), on every call.
func perDoc(answer func(call int, d bulkDoc) item) script {
	return func(call int, docs []bulkDoc) reply {
		items := make([]item, len(docs))
		for i, d := range docs {
			items[i] = answer(call, d)
		}
		return reply{items: items}
	}
}

// firstCalls answers the first n calls with r and the rest with then.
func firstCalls(n int, r script, then script) script {
	return func(call int, docs []bulkDoc) reply {
		if call <= n {
			return r(call, docs)
		}
		return then(call, docs)
	}
}

// sequence answers call i with replies[i-1], then allOK.
func sequence(replies ...reply) script {
	return func(call int, docs []bulkDoc) reply {
		if call <= len(replies) {
			return replies[call-1]
		}
		return reply{}
	}
}

// poisoned stops at the first poison document of each request, as ZincSearch
// does when a document cannot be stored. zinc: the poison gets a (false)
// success item and the response a top-level error; otherwise the items just
// end before it.
func poisoned(zinc bool, poison ...string) script {
	return func(_ int, docs []bulkDoc) reply {
		items := []item{} // not nil: nil answers everything
		for _, d := range docs {
			if slices.Contains(poison, d.ID) {
				if !zinc {
					return reply{items: items}
				}
				return reply{items: append(items, item{status: 200}),
					zincError: "field [http.response.status_code] was set type to [numeric] but the value [abc] can't convert to int"}
			}
			items = append(items, created)
		}
		return reply{items: items}
	}
}
