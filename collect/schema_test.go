package collect

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseCollectConfigValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{
			name: "tutorial layout gets defaults",
			in:   `[{"path":"/var/log/nginx/access.log","topic":"web_log"}]`,
			want: []Entry{{Path: "/var/log/nginx/access.log", Topic: "web_log", Start: StartBeginning, Timestamp: Timestamp{Format: TimestampNone}, Format: FormatEnvelope}},
		},
		{
			name: "a disabled entry needs only its path",
			in:   `[{"path":"/var/log/nginx/access.log","disabled":true}]`,
			want: []Entry{{Path: "/var/log/nginx/access.log", Disabled: true, Start: StartBeginning, Timestamp: Timestamp{Format: TimestampNone}, Format: FormatEnvelope}},
		},
		{
			name: "a custom layout and zone",
			in:   `[{"path":"/var/log/app.log","topic":"app_log","timestamp":{"layout":"2006-01-02 15:04:05.000","timezone":"Europe/Berlin"}}]`,
			want: []Entry{{Path: "/var/log/app.log", Topic: "app_log", Start: StartBeginning, Format: FormatEnvelope,
				Timestamp: Timestamp{Format: TimestampLayout, Layout: "2006-01-02 15:04:05.000", Timezone: "Europe/Berlin", loc: mustZone("Europe/Berlin")}}},
		},
		{
			name: "empty array collects nothing",
			in:   " [ ] \n",
			want: []Entry{},
		},
		{
			name: "every field set",
			in: `[{"path":"/var/log/app/*.log","topic":"app.logs-1","exclude":["*.gz","/var/log/app/debug-*.log"],
			       "fields":{"env":"prod"},"start":"end","timestamp":"iso8601","max_line_bytes":64,"format":"raw"}]`,
			want: []Entry{{
				Path: "/var/log/app/*.log", Topic: "app.logs-1", Exclude: []string{"*.gz", "/var/log/app/debug-*.log"},
				Fields: map[string]string{"env": "prod"}, Start: StartEnd, Timestamp: Timestamp{Format: TimestampISO8601}, MaxLineBytes: 64, Format: FormatRaw,
			}},
		},
		{
			name: "several entries, other timestamp values",
			in:   `[{"path":"/a.log","topic":"a","timestamp":"nginx"},{"path":"/b/[ab]?.log","topic":"b","timestamp":"syslog","start":"beginning","format":"envelope"}]`,
			want: []Entry{
				{Path: "/a.log", Topic: "a", Start: StartBeginning, Timestamp: Timestamp{Format: TimestampNginx}, Format: FormatEnvelope},
				{Path: "/b/[ab]?.log", Topic: "b", Start: StartBeginning, Timestamp: Timestamp{Format: TimestampSyslog}, Format: FormatEnvelope},
			},
		},
		{
			name: "topic of 249 characters",
			in:   `[{"path":"/a","topic":"` + strings.Repeat("t", 249) + `"}]`,
			want: []Entry{{Path: "/a", Topic: strings.Repeat("t", 249), Start: StartBeginning, Timestamp: Timestamp{Format: TimestampNone}, Format: FormatEnvelope}},
		},
		{
			name: "escaped star and star inside a class are literal",
			in:   `[{"path":"/a/\\*/[*]x*","topic":"a"}]`,
			want: []Entry{{Path: `/a/\*/[*]x*`, Topic: "a", Start: StartBeginning, Timestamp: Timestamp{Format: TimestampNone}, Format: FormatEnvelope}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCollectConfig([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseCollectConfig: %v", err)
			}
			if got == nil {
				t.Fatal("got nil entries, want non-nil")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseCollectConfigRejects(t *testing.T) {
	const ok = `"path":"/var/log/app.log","topic":"web_log"`
	tests := []struct {
		name string
		in   string
		want []string // substrings the message must contain
	}{
		{"empty value", "", []string{"empty value", "must be a JSON array"}},
		{"object instead of array", `{"path":"/a","topic":"t"}`, []string{"got an object", `must be a JSON array of entries like [{"path":`}},
		{"string instead of array", `"/var/log/x"`, []string{"got a string", "must be a JSON array"}},
		{"null", `null`, []string{"got null", "must be a JSON array"}},
		{"syntax error has offset", `[{"path":"/a" "topic":"t"}]`, []string{"invalid JSON at byte offset 14", `(near: [{"path":"/a" >>"topic":"t)`}},
		{"truncated", `[{"path":"/a"`, []string{"invalid JSON: unexpected end of input at byte offset 13"}},
		{"element a number", `[1]`, []string{"entry 0: must be a JSON object, got a number"}},
		{"fractional max_line_bytes", `[{` + ok + `,"max_line_bytes":100.5}]`, []string{"max_line_bytes: must be a whole number, got number 100.5"}},
		{"trailing data", `[] []`, []string{"unexpected data after the array at byte offset 2"}},
		{"trailing garbage", `[{` + ok + `}]x`, []string{"unexpected data after the array"}},
		{"element not an object", `[{` + ok + `}, "x"]`, []string{"entry 1: must be a JSON object, got a string"}},
		{"unknown field with suggestion", `[{` + ok + `,"topc":"x"}]`, []string{`entry 0 (path "/var/log/app.log"): unknown field "topc" (did you mean "topic"?)`}},
		{"unknown field without suggestion", `[{` + ok + `,"color":"red"}]`, []string{`unknown field "color"`, "known fields: path, topic"}},
		{"wrong case is unknown", `[{"PATH":"/a","topic":"t"}]`, []string{`entry 0: unknown field "PATH" (did you mean "path"?)`}},
		{"duplicate field", `[{` + ok + `,"topic":"other"}]`, []string{`field "topic" given twice`}},
		{"wrong type", `[{` + ok + `,"max_line_bytes":"1k"}]`, []string{"max_line_bytes: must be a whole number, got string"}},
		{"wrong type exclude", `[{` + ok + `,"exclude":"*.gz"}]`, []string{"exclude: must be an array of strings, got string"}},
		{"path missing", `[{"topic":"t"}]`, []string{"entry 0: path: must not be empty"}},
		{"path listed twice", `[{` + ok + `},{"path":"/var/log/x.log","topic":"t"},{` + ok + `}]`, []string{`entry 2 (path "/var/log/app.log"): path: listed again (first in entry 0)`}},
		{"bad include_lines", `[{` + ok + `,"include_lines":["ERROR","(unclosed"]}]`, []string{`include_lines[1]: "(unclosed" is not a valid regular expression (Go RE2 syntax)`}},
		{"look-around in exclude_lines", `[{` + ok + `,"exclude_lines":["(?!x)"]}]`, []string{`exclude_lines[0]: "(?!x)" is not a valid regular expression`}},
		{"include_lines not a list", `[{` + ok + `,"include_lines":"ERROR"}]`, []string{"include_lines: must be an array of strings, got string"}},
		{"ignore_older not a duration", `[{` + ok + `,"ignore_older":"3 days"}]`, []string{`ignore_older: "3 days" is not a positive duration such as "72h"`}},
		{"ignore_older negative", `[{` + ok + `,"ignore_older":"-1h"}]`, []string{`ignore_older: "-1h" is not a positive duration`}},
		{"strftime layout", `[{` + ok + `,"timestamp":{"layout":"%Y-%m-%d %H:%M:%S"}}]`, []string{`timestamp.layout: "%Y-%m-%d %H:%M:%S" looks like a strftime pattern, not a Go layout; write the reference time Mon Jan 2 15:04:05 MST 2006 as your logs write it, e.g. {"layout": "2006-01-02 15:04:05.000"`}},
		{"java layout", `[{` + ok + `,"timestamp":{"layout":"yyyy-MM-dd HH:mm:ss"}}]`, []string{`looks like a Java or Joda pattern`}},
		{"layout without elements", `[{` + ok + `,"timestamp":{"layout":"date then time"}}]`, []string{`timestamp.layout: "date then time" has no date or time elements`}},
		{"layout missing", `[{` + ok + `,"timestamp":{"timezone":"UTC"}}]`, []string{`timestamp.layout: layout must not be empty`}},
		{"bad timezone", `[{` + ok + `,"timestamp":{"layout":"2006-01-02","timezone":"Mars/Olympus"}}]`, []string{`timestamp.timezone: "Mars/Olympus" is not an IANA time zone`}},
		{"unknown timestamp key", `[{` + ok + `,"timestamp":{"layout":"2006-01-02","zone":"UTC"}}]`, []string{`unknown field "timestamp.zone"`}},
		{"timestamp a number", `[{` + ok + `,"timestamp":5}]`, []string{`timestamp: must be a string (none, nginx, iso8601, syslog) or an object`}},
		{"named timestamp unknown", `[{` + ok + `,"timestamp":"rfc3164"}]`, []string{`timestamp: "rfc3164" is not one of none, nginx, iso8601, syslog`}},
		{"disabled still needs a path", `[{"disabled":true}]`, []string{"entry 0: path: must not be empty"}},
		{"disabled must be a boolean", `[{` + ok + `,"disabled":"yes"}]`, []string{"disabled: must be true or false, got string"}},
		{"path relative", `[{"path":"var/log/x.log","topic":"t"}]`, []string{`entry 0 (path "var/log/x.log"): path: "var/log/x.log" must be absolute`}},
		{"path with dotdot", `[{"path":"/x/logs/../../../etc/passwd","topic":"t"}]`, []string{`entry 0 (path "/x/logs/../../../etc/passwd"): path: "/x/logs/../../../etc/passwd" has ".." segments; write the path they lead to: "/etc/passwd"`}},
		{"path ending in dotdot", `[{"path":"/var/log/app/..","topic":"t"}]`, []string{`has ".." segments; write the path they lead to: "/var/log"`}},
		{"path with dot", `[{"path":"/var/log/./a.log","topic":"t"}]`, []string{`path: "/var/log/./a.log" is not a clean path; write it as "/var/log/a.log"`}},
		{"path with double slash", `[{"path":"/var/log//*.log","topic":"t"}]`, []string{`is not a clean path; write it as "/var/log/*.log"`}},
		{"path with trailing slash", `[{"path":"/var/log/","topic":"t"}]`, []string{`write it as "/var/log"`}},
		{"path relative with dotdot", `[{"path":"../etc/passwd","topic":"t"}]`, []string{`path: "../etc/passwd" must be absolute`}},
		{"exclude with dotdot", `[{` + ok + `,"exclude":["/var/log/../etc/*"]}]`, []string{`exclude[0]: "/var/log/../etc/*" has ".." segments`}},
		{"exclude relative with slash", `[{` + ok + `,"exclude":["app/*.log"]}]`, []string{`exclude[0]: "app/*.log" has a "/" but is not absolute`}},
		{"path bad glob", `[{"path":"/var/log/[a.log","topic":"t"}]`, []string{"path:", "not a valid glob", "syntax error in pattern"}},
		{"path bad glob after a star", `[{"path":"/var/*/x[","topic":"t"}]`, []string{"path:", "not a valid glob"}},
		{"path trailing backslash", `[{"path":"/var/log/x\\","topic":"t"}]`, []string{"path:", "not a valid glob"}},
		{"path with ** inside an element", `[{"path":"/var/log/**.log","topic":"t"}]`, []string{"path:", `"**" must be a whole path element`}},
		{"topic missing", `[{"path":"/a"},{"path":"/var/log/app.log"}]`, []string{`entry 0 (path "/a"): topic: must not be empty`, `entry 1 (path "/var/log/app.log"): topic: must not be empty`}},
		{"topic illegal char", `[{"path":"/a","topic":"web log"}]`, []string{"topic:", `contains ' '`}},
		{"topic slash", `[{"path":"/a","topic":"a/b"}]`, []string{"topic:", `contains '/'`}},
		{"topic dot", `[{"path":"/a","topic":"."}]`, []string{`topic: "." is not a legal Kafka topic name`}},
		{"topic dotdot", `[{"path":"/a","topic":".."}]`, []string{`topic: ".." is not a legal`}},
		{"topic too long", `[{"path":"/a","topic":"` + strings.Repeat("t", 250) + `"}]`, []string{"topic: is 250 characters long; Kafka allows at most 249"}},
		{"exclude bad glob", `[{` + ok + `,"exclude":["*.gz","[x"]}]`, []string{"exclude[1]:", "not a valid glob"}},
		{"exclude empty", `[{` + ok + `,"exclude":[""]}]`, []string{"exclude[0]: must not be empty"}},
		{"fields empty key", `[{` + ok + `,"fields":{"":"x"}}]`, []string{"fields: keys must not be empty"}},
		{"fields non-string value", `[{` + ok + `,"fields":{"n":1}}]`, []string{"must be", "got number"}},
		{"start bad", `[{` + ok + `,"start":"middle"}]`, []string{`start: "middle" is not one of beginning, end`}},
		{"timestamp bad", `[{` + ok + `,"timestamp":"rfc3339"}]`, []string{`timestamp: "rfc3339" is not one of none, nginx, iso8601, syslog`}},
		{"format bad", `[{` + ok + `,"format":"json"}]`, []string{`format: "json" is not one of envelope, raw`}},
		{"max_line_bytes too small", `[{` + ok + `,"max_line_bytes":63}]`, []string{"max_line_bytes: 63 is too small", "at least 64"}},
		{"max_line_bytes negative", `[{` + ok + `,"max_line_bytes":-1}]`, []string{"max_line_bytes: -1 is too small"}},
		{"multiline not an object", `[{` + ok + `,"multiline":"^\\s"}]`, []string{`multiline: must be an object such as {"start_pattern":"^\\d{4}-"}, got string`}},
		{"multiline empty", `[{` + ok + `,"multiline":{}}]`, []string{"multiline: needs start_pattern or continue_pattern"}},
		{"multiline both patterns", `[{` + ok + `,"multiline":{"start_pattern":"^a","continue_pattern":"^b"}}]`, []string{"not both"}},
		{"multiline bad regexp", `[{` + ok + `,"multiline":{"continue_pattern":"(^\\s"}}]`, []string{`multiline.continue_pattern: "(^\\s" is not a valid regular expression (Go RE2 syntax): error parsing regexp: missing closing )`}},
		{"multiline lookahead", `[{` + ok + `,"multiline":{"start_pattern":"^(?!\\s)"}}]`, []string{"multiline.start_pattern:", "RE2"}},
		{"multiline max_lines", `[{` + ok + `,"multiline":{"start_pattern":"^a","max_lines":1}}]`, []string{"multiline.max_lines: 1 is not between 2 and 100000"}},
		{"multiline max_lines type", `[{` + ok + `,"multiline":{"start_pattern":"^a","max_lines":"5"}}]`, []string{"multiline.max_lines: must be a whole number, got string"}},
		{"multiline timeout", `[{` + ok + `,"multiline":{"start_pattern":"^a","timeout":"5"}}]`, []string{`multiline.timeout: "5" is not a duration between 10ms and 1m0s such as "1s"`}},
		{"multiline timeout too long", `[{` + ok + `,"multiline":{"start_pattern":"^a","timeout":"2m"}}]`, []string{`multiline.timeout: "2m"`}},
		{"multiline unknown field", `[{` + ok + `,"multiline":{"pattern":"^a"}}]`, []string{`unknown field "multiline.pattern" (known fields: start_pattern, continue_pattern, max_lines, timeout)`}},
		{"multiline field case", `[{` + ok + `,"multiline":{"START_PATTERN":"^a"}}]`, []string{`unknown field "multiline.START_PATTERN" (did you mean "multiline.start_pattern"?)`}},
		{"multiline field twice", `[{` + ok + `,"multiline":{"start_pattern":"^a","start_pattern":"^b"}}]`, []string{`field "multiline.start_pattern" given twice`}},
		{"several problems all reported", `[{"path":"rel","topic":""},{` + ok + `,"format":"x"}]`, []string{
			`entry 0 (path "rel"): path: "rel" must be absolute`,
			`entry 0 (path "rel"): topic: must not be empty`,
			`entry 1 (path "/var/log/app.log"): format: "x" is not one of`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCollectConfig([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted, got %+v", got)
			}
			if got != nil {
				t.Errorf("entries = %+v, want nil on error", got)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not *ConfigError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestMultilineRule(t *testing.T) {
	entries, err := ParseCollectConfig([]byte(`[
		{"path":"/a.log","topic":"a","multiline":{"start_pattern":"^\\d{4}-"}},
		{"path":"/b.log","topic":"b","multiline":{"continue_pattern":"^\\s","max_lines":20,"timeout":"250ms"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	start, cont := entries[0].Multiline, entries[1].Multiline
	if start.MaxLines != DefaultMultilineMaxLines || start.TimeoutDuration() != DefaultMultilineTimeout || start.Timeout != "1s" {
		t.Errorf("defaults: %+v", start)
	}
	if cont.MaxLines != 20 || cont.TimeoutDuration() != 250*time.Millisecond {
		t.Errorf("set: %+v", cont)
	}
	for _, c := range []struct {
		m    *Multiline
		line string
		want bool
	}{
		{start, "2026-11-26 ERROR x", true}, {start, "\tat x", false}, {start, "", false},
		{cont, "  at x", false}, {cont, "Caused by: y", true}, {cont, "", true},
	} {
		if got := c.m.StartsEvent([]byte(c.line)); got != c.want {
			t.Errorf("StartsEvent(%q) = %v with %+v", c.line, got, c.m)
		}
	}
}

func TestConfigErrorListsProblems(t *testing.T) {
	_, err := ParseCollectConfig([]byte(`[{"path":"/a"},{"path":"/b","topic":"t","start":"x"}]`))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConfigError", err)
	}
	if len(ce.Problems) != 2 {
		t.Fatalf("problems = %q, want 2", ce.Problems)
	}
	if got, want := err.Error(), strings.Join(ce.Problems, "; "); got != want {
		t.Errorf("Error() = %q, want problems joined: %q", got, want)
	}
}

func TestEntryMatchesAndExcluded(t *testing.T) {
	e := Entry{Path: "/var/log/app/*.log", Exclude: []string{"*-debug.log", "/var/log/app/tmp*"}}
	tests := []struct {
		path              string
		excluded, matches bool
	}{
		{"/var/log/app/a.log", false, true},
		{"/var/log/app/x-debug.log", true, false},   // base-name pattern
		{"/var/log/app/tmp1.log", true, false},      // full-path pattern
		{"/var/log/app/sub/a.log", false, false},    // * does not cross /
		{"/var/log/other/x-debug.log", true, false}, // excluded, and not matched anyway
	}
	for _, tc := range tests {
		if got := e.Excluded(tc.path); got != tc.excluded {
			t.Errorf("Excluded(%q) = %v, want %v", tc.path, got, tc.excluded)
		}
		if got := e.Matches(tc.path); got != tc.matches {
			t.Errorf("Matches(%q) = %v, want %v", tc.path, got, tc.matches)
		}
	}
	if !e.IsGlob() || (Entry{Path: "/var/log/x.log"}).IsGlob() {
		t.Error("IsGlob wrong")
	}
}

// TestEntryKeep: include_lines first (any one matches), then exclude_lines.
func TestEntryKeep(t *testing.T) {
	entries, err := ParseCollectConfig([]byte(`[{"path":"/a.log","topic":"t","include_lines":["^ERR","^WARN"],"exclude_lines":["health"]},{"path":"/b.log","topic":"t","ignore_older":"36h"}]`))
	if err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	for line, want := range map[string]string{
		"ERR boom": "", "WARN x": "", "INFO y": DropNotIncluded, "WARN health": DropExcluded, "ERR healthcheck": DropExcluded,
	} {
		ok, reason := e.Keep([]byte(line))
		if ok != (want == "") || reason != want {
			t.Errorf("Keep(%q) = %v, %q; want reason %q", line, ok, reason, want)
		}
	}
	if !e.Filters() || entries[1].Filters() {
		t.Error("Filters wrong")
	}
	if d := entries[1].IgnoreOlderDuration(); d != 36*time.Hour {
		t.Errorf("ignore_older = %v", d)
	}
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// TestTimestampJSON: a named format encodes as a string, a layout as an
// object, and both read back as they were.
func TestTimestampJSON(t *testing.T) {
	for _, in := range []string{
		`[{"path":"/a.log","topic":"t","timestamp":"nginx"}]`,
		`[{"path":"/a.log","topic":"t","timestamp":{"layout":"Jan _2 15:04:05","timezone":"America/New_York"}}]`,
	} {
		entries, err := ParseCollectConfig([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), strings.TrimSuffix(strings.SplitN(in, `"timestamp":`, 2)[1], "}]")) {
			t.Errorf("%s encoded as %s", in, b)
		}
		again, err := ParseCollectConfig(b)
		if err != nil || !reflect.DeepEqual(again, entries) {
			t.Errorf("%s: read back %+v, %v; want %+v", b, again, err, entries)
		}
	}
}

// TestLineMatcherAgreesWithRegexp: the literal search for plain and
// alternated literals gives regexp's answer, and anything else is left to
// regexp.
func TestLineMatcherAgreesWithRegexp(t *testing.T) {
	lines := []string{"", "DEBUG x", "a TRACE", "debug", "ERROR: DEBUGGER", "x.y", "xzy", "héllo wörld", "ERR", "OR"}
	for _, p := range []string{"DEBUG", "DEBUG|TRACE", "(?i)debug", "^DEBUG", "DEBUG$", "x.y", `x\.y`, "wörld|ERR", "ERROR|ERRNO", "a|", "(DEBUG)|(TRACE)"} {
		re := regexp.MustCompile(p)
		m := newLineMatcher(re)
		for _, l := range lines {
			if got, want := m.match([]byte(l)), re.MatchString(l); got != want {
				t.Errorf("pattern %q on %q: %v, regexp says %v (literals %q)", p, l, got, want, m.literals)
			}
		}
	}
	if m := newLineMatcher(regexp.MustCompile("DEBUG|TRACE")); len(m.literals) != 2 {
		t.Errorf("DEBUG|TRACE searched as %q, want two literals", m.literals)
	}
}
