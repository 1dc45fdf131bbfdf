// Package jsonx holds the JSON encoding both daemons do by hand on their hot
// paths, where encoding/json's reflection would cost more than the work.
package jsonx

import (
	"encoding/binary"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes copied into a JSON string as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Word-at-a-time constants: one in every byte, the top bit of every byte.
const (
	ones = 0x0101010101010101
	tops = 0x8080808080808080
)

// needsWork reports whether any of the 8 bytes in w is not copied as it is:
// a control character, '"', '\\' or a byte of a multi-byte (or invalid)
// UTF-8 sequence. The classic zero-byte tests: exact about whether any byte
// matches, which is all this needs.
func needsWork(w uint64) bool {
	control := ((w - ones*0x20) &^ w) & tops // a byte below 0x20
	return control|zeroByte(w^ones*'"')|zeroByte(w^ones*'\\')|w&tops != 0
}

// zeroByte is non-zero when some byte of x is zero.
func zeroByte(x uint64) uint64 { return ((x - ones) &^ x) & tops }

// AppendString appends s as a JSON string. Bytes that are not valid UTF-8
// become the four characters \xNN (escaped as \\xNN in JSON), so the result
// stays valid JSON and the original bytes can still be read off; invalidUTF8
// reports whether there were any.
func AppendString(dst, s []byte) (out []byte, invalidUTF8 bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Log lines are mostly plain ASCII: skip it 8 bytes at a time.
		for i+8 <= len(s) && !needsWork(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			invalidUTF8 = true
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), invalidUTF8
}
