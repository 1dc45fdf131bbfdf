package jsonx

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	out, invalid := AppendString(nil, []byte("a\"b\\c\n\x01\xffé"))
	var back string
	if err := json.Unmarshal(out, &back); err != nil || !invalid || back != "a\"b\\c\n\x01\\xffé" {
		t.Fatalf("%s -> %q %v %v", out, back, invalid, err)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add([]byte("\xff\xfe\x00\"\\\u2028"))
	f.Add([]byte(`0123456"89abcdef\x01234567é9abcdefghijklmnop` + "\x1f\x7f\x80"))
	f.Fuzz(func(t *testing.T, s []byte) {
		out, invalid := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON for %q: %s", s, out)
		}
		// What it must decode to: s, with each byte that is not UTF-8 as \xNN.
		var want strings.Builder
		wantInvalid := false
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				fmt.Fprintf(&want, `\x%02x`, s[i])
				wantInvalid = true
			} else {
				want.Write(s[i : i+size])
			}
			i += size
		}
		if back != want.String() || invalid != wantInvalid {
			t.Fatalf("%q encoded as %s: decodes to %q (invalid %v), want %q (invalid %v)", s, out, back, invalid, want.String(), wantInvalid)
		}
	})
}

// A typical nginx access line: plain ASCII with a few quotes.
var accessLine = []byte(`10.12.1.7 - - [26/Nov/2026:10:00:00 +0000] "GET /api/v1/orders/68763?page=2 HTTP/1.1" 200 46740 "https://www.google.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"`)

func BenchmarkAppendString(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(accessLine)))
	for b.Loop() {
		buf, _ = AppendString(buf[:0], accessLine)
	}
}
