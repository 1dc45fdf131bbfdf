package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// sink is an instant search engine: it answers every _bulk at once with a
// success item per document, in Elasticsearch's format, and 200 to index
// template PUTs. It shows the transfer's own ceiling.
type sink struct {
	srv        *http.Server
	url        string
	docs       atomic.Int64
	requests   atomic.Int64
	templates  atomic.Int64
	unexpected atomic.Int64
	lastOther  atomic.Value // string: the last unexpected request
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{url: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: s}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() { _ = s.srv.Close() }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
		s.bulk(w, r)
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/_index_template/"):
		_, _ = io.Copy(io.Discard, r.Body)
		s.templates.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		s.unexpected.Add(1)
		s.lastOther.Store(r.Method + " " + r.URL.Path)
		http.Error(w, `{"error":"not supported by the bench sink"}`, http.StatusNotFound)
	}
}

// bulk answers each action line (index or create, with _index and _id) with
// a created item carrying the same _index and _id. The transfer's
// bulk body writes action lines as {"index":{"_index":"…","_id":"…"}}: their
// quoted values are copied into the answer as they are; any other shape is
// decoded properly.
func (s *sink) bulk(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.requests.Add(1)
	out := make([]byte, 0, len(body)/4+64)
	out = append(out, `{"took":0,"errors":false,"items":[`...)
	n := 0
	action := true // lines alternate: action, source
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !action {
			action = true
			continue
		}
		action = false
		op, index, id, ok := parseAction(line)
		if !ok {
			http.Error(w, `{"error":"bad action line"}`, http.StatusBadRequest)
			return
		}
		if op == "delete" {
			action = true // no source line follows
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"`...)
		out = append(out, op...)
		out = append(out, `":{"_index":`...)
		out = append(out, index...)
		out = append(out, `,"_id":`...)
		out = append(out, id...)
		out = append(out, `,"_version":1,"result":"created","status":201}}`...)
		n++
	}
	out = append(out, "]}"...)
	s.docs.Add(int64(n))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// parseAction returns the action and the quoted JSON strings of _index and
// _id (quotes included).
func parseAction(line []byte) (op string, index, id []byte, ok bool) {
	const pre, mid = `{"index":{"_index":`, `,"_id":`
	if rest, found := bytes.CutPrefix(line, []byte(pre)); found {
		if index, rest, found = cutQuoted(rest); found {
			if rest, found = bytes.CutPrefix(rest, []byte(mid)); found {
				if id, rest, found = cutQuoted(rest); found && string(rest) == "}}" {
					return "index", index, id, true
				}
			}
		}
	}
	var a map[string]struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	if json.Unmarshal(line, &a) != nil || len(a) != 1 {
		return "", nil, nil, false
	}
	for k, v := range a {
		index, _ = json.Marshal(v.Index)
		id, _ = json.Marshal(v.ID)
		return k, index, id, true
	}
	return "", nil, nil, false
}

// cutQuoted splits a leading JSON string without escapes off b.
func cutQuoted(b []byte) (quoted, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 || bytes.IndexByte(b[1:1+end], '\\') >= 0 {
		return nil, nil, false
	}
	return b[:end+2], b[end+2:], true
}
