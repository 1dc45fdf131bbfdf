package transfer

import (
	"bytes"
	"strconv"

	"github.com/logagent/logagent/internal/jsonx"
)

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
