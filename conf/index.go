package conf

import (
	"fmt"
	"strings"
)

// IndexPattern is transfer.yaml's index setting compiled: literal text and
// the {topic} and {date} placeholders. The transfer names every document's
// index with it, so it appends without allocating.
type IndexPattern struct {
	parts []indexPart
}

type indexPart struct {
	kind byte // 0 literal, 't' topic, 'd' date
	lit  string
}

// CompileIndex compiles an index pattern; a placeholder other than {topic}
// and {date} is an error.
func CompileIndex(p string) (IndexPattern, error) {
	var parts []indexPart
	for p != "" {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			parts = append(parts, indexPart{lit: p})
			break
		}
		if i > 0 {
			parts = append(parts, indexPart{lit: p[:i]})
		}
		switch {
		case strings.HasPrefix(p[i:], "{topic}"):
			parts = append(parts, indexPart{kind: 't'})
			p = p[i+len("{topic}"):]
		case strings.HasPrefix(p[i:], "{date}"):
			parts = append(parts, indexPart{kind: 'd'})
			p = p[i+len("{date}"):]
		default:
			return IndexPattern{}, fmt.Errorf("index: unknown placeholder in %q", p)
		}
	}
	return IndexPattern{parts: parts}, nil
}

// Append appends the index name of topic on date (YYYY.MM.DD, or a pattern
// such as "*") to dst.
func (p IndexPattern) Append(dst []byte, topic string, date []byte) []byte {
	for _, part := range p.parts {
		switch part.kind {
		case 't':
			dst = append(dst, topic...)
		case 'd':
			dst = append(dst, date...)
		default:
			dst = append(dst, part.lit...)
		}
	}
	return dst
}
