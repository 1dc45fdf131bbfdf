package jsonx

import (
	"encoding/json"
	"testing"
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
	f.Fuzz(func(t *testing.T, s []byte) {
		out, _ := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON for %q: %s", s, out)
		}
	})
}
