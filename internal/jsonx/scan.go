package jsonx

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Member is one top-level field of a JSON object: the key with its quotes
// and the raw value.
type Member struct{ Key, Val []byte }

// Members lists the members of obj, which must be a valid JSON object,
// without allocating beyond dst: the transfer's envelope scanner.
func Members(obj []byte, dst []Member) []Member {
	i := SkipSpace(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		ks := i
		i = skipString(obj, i)
		key := obj[ks:i]
		i = SkipSpace(obj, i) + 1 // ':'
		i = SkipSpace(obj, i)
		vs := i
		i = skipValue(obj, i)
		dst = append(dst, Member{key, obj[vs:i]})
		i = SkipSpace(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i = SkipSpace(obj, i+1)
		}
	}
	return dst
}

// Find is the value of the member whose key, quotes included, is
// quotedKey; nil if there is none.
func Find(ms []Member, quotedKey string) []byte {
	for _, m := range ms {
		if string(m.Key) == quotedKey {
			return m.Val
		}
	}
	return nil
}

// SkipSpace returns the index of the first byte from i that is not JSON
// white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		return j
	}
}

// Unquote decodes a JSON string value. Without escapes it returns a slice of
// v itself; ok is false when v is not a string.
func Unquote(v []byte) (s []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	in := v[1 : len(v)-1]
	esc := bytes.IndexByte(in, '\\')
	if esc < 0 {
		return in, true
	}
	out := make([]byte, 0, len(in))
	out = append(out, in[:esc]...)
	for i := esc; i < len(in); i++ {
		c := in[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(in) {
			return nil, false
		}
		switch in[i] {
		case '"', '\\', '/':
			out = append(out, in[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := decodeU(in[i-1:])
			out = utf8.AppendRune(out, r)
			i += n - 2
		default:
			return nil, false
		}
	}
	return out, true
}

// decodeU decodes \uXXXX, or a surrogate pair of two, at the start of b; it
// returns the rune and the bytes consumed. Bad input gives U+FFFD, as
// encoding/json does.
func decodeU(b []byte) (rune, int) {
	r1, ok := hex4(b)
	if !ok {
		return utf8.RuneError, 2
	}
	if utf16.IsSurrogate(r1) {
		if r2, ok := hex4(b[6:]); ok && len(b) >= 12 && b[6] == '\\' {
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				return r, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r1, 6
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 32)
	return rune(n), err == nil
}
