// Package collect is the collect config: the schema of the JSON list of
// entries an agent reads from etcd (which files, which topic, how to cut and
// stamp their lines), its validator, shared by the agent and logctl, and the
// merge of the layers a host's config is made of.
package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/wire"
)

// Allowed values of Entry.Start.
const (
	// StartBeginning reads files that exist when the entry is first applied
	// from offset 0. The default.
	StartBeginning = "beginning"
	// StartEnd skips what files already hold when the entry is first applied.
	// Files that appear later are still read from the beginning.
	StartEnd = "end"
)

// Allowed values of Entry.Format.
const (
	// FormatEnvelope wraps each line in a JSON event. The default.
	FormatEnvelope = wire.FormatEnvelope
	// FormatRaw ships the line's bytes as they are.
	FormatRaw = wire.FormatRaw
)

// MinMaxLineBytes is the smallest MaxLineBytes an entry may set; smaller
// values would split lines into uselessly small events.
const MinMaxLineBytes = 64

var (
	startValues  = []string{StartBeginning, StartEnd}
	formatValues = []string{FormatEnvelope, FormatRaw}
	// entryFields are Entry's JSON names, matched exactly (encoding/json alone
	// would accept "PATH" for "path").
	entryFields = []string{"path", "topic", "exclude", "fields", "start", "timestamp", "max_line_bytes", "format", "multiline",
		"include_lines", "exclude_lines", "ignore_older", "disabled"}
	multilineFields = []string{"start_pattern", "continue_pattern", "max_lines", "timeout"}
)

// exampleShape is quoted in errors about the overall shape of the value.
const exampleShape = `must be a JSON array of entries like [{"path":"/var/log/nginx/access.log","topic":"web_log"}]`

// Entry is one object of the JSON array at <prefix><host>/collect_config:
// which files to read and where to send their lines.
type Entry struct {
	// Path is an absolute, clean file path (no "..", "//", "/./" or
	// trailing "/"); it may be a glob (filepath.Match syntax, where a "**"
	// element stands for any number of directories).
	Path string `json:"path"`
	// Topic is the Kafka topic the lines go to.
	Topic string `json:"topic,omitempty"`
	// Exclude lists globs; a file matching one is skipped. A pattern with a
	// "/" is matched against the full path, one without against the base name
	// (so "*.gz" does what people expect).
	Exclude []string `json:"exclude,omitempty"`
	// Fields are static key/values added to every event.
	Fields map[string]string `json:"fields,omitempty"`
	// Start is StartBeginning (default) or StartEnd.
	Start string `json:"start,omitempty"`
	// Timestamp says how to take @timestamp from the line: a named format
	// (default TimestampNone: the read time) or a layout.
	Timestamp Timestamp `json:"timestamp,omitzero"`
	// MaxLineBytes overrides the agent-wide line length limit; 0 (default)
	// keeps it, otherwise at least MinMaxLineBytes.
	MaxLineBytes int `json:"max_line_bytes,omitempty"`
	// Format is FormatEnvelope (default) or FormatRaw.
	Format string `json:"format,omitempty"`
	// Multiline joins the lines of one record (a stack trace, say) into one
	// event; nil ships every line as its own event.
	Multiline *Multiline `json:"multiline,omitempty"`
	// IncludeLines, when set, keeps only the events matching one of these
	// regular expressions (RE2); ExcludeLines then drops those matching one
	// of its own. Both apply to whole events, after multiline joining, in the
	// agent: a dropped event is never shipped, and its bytes count as done.
	IncludeLines []string `json:"include_lines,omitempty"`
	ExcludeLines []string `json:"exclude_lines,omitempty"`
	// IgnoreOlder, a Go duration, registers files not modified for longer
	// than this at their end when they are first seen, instead of reading
	// them from the beginning ("": off). What they grow by later is read.
	IgnoreOlder string `json:"ignore_older,omitempty"`
	// Disabled removes the entry with this path that a less specific layer
	// (_common, a group) sets; nothing but the path is needed. A merged
	// config holds no disabled entries.
	Disabled bool `json:"disabled,omitempty"`

	// Set by validation.
	include, exclude []lineMatcher
	ignoreOlder      time.Duration
}

// Drop reasons of Entry.Keep.
const (
	DropNotIncluded = "not_included" // matched none of include_lines
	DropExcluded    = "excluded"     // matched one of exclude_lines
)

// Keep reports whether an event passes the entry's include_lines and
// exclude_lines, and if not, why (DropNotIncluded, DropExcluded). Only on a
// validated Entry.
func (e *Entry) Keep(event []byte) (ok bool, reason string) {
	if len(e.include) > 0 && !matchesAny(e.include, event) {
		return false, DropNotIncluded
	}
	if matchesAny(e.exclude, event) {
		return false, DropExcluded
	}
	return true, ""
}

// Filters reports whether the entry drops events at all.
func (e *Entry) Filters() bool { return len(e.include)+len(e.exclude) > 0 }

// IgnoreOlderDuration is IgnoreOlder parsed (0: off). Only on a validated
// Entry.
func (e *Entry) IgnoreOlderDuration() time.Duration { return e.ignoreOlder }

func matchesAny(ms []lineMatcher, b []byte) bool {
	for _, m := range ms {
		if m.match(b) {
			return true
		}
	}
	return false
}

// lineMatcher is one include_lines or exclude_lines pattern. A pattern that
// is a literal or an alternation of literals ("DEBUG|TRACE") is matched by
// searching for the literals: Go's regexp scans such an alternation byte by
// byte, about fifteen times slower.
type lineMatcher struct {
	re       *regexp.Regexp
	literals [][]byte // set: the pattern matches where one of these occurs
}

func newLineMatcher(re *regexp.Regexp) lineMatcher {
	m := lineMatcher{re: re}
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return m
	}
	tree = tree.Simplify()
	subs := []*syntax.Regexp{tree}
	if tree.Op == syntax.OpAlternate {
		subs = tree.Sub
	}
	var lits [][]byte
	for _, sub := range subs {
		if sub.Op != syntax.OpLiteral || sub.Flags&syntax.FoldCase != 0 {
			return m
		}
		lits = append(lits, []byte(string(sub.Rune)))
	}
	m.literals = lits
	return m
}

func (m lineMatcher) match(b []byte) bool {
	if m.literals == nil {
		return m.re.Match(b)
	}
	for _, l := range m.literals {
		if bytes.Contains(b, l) {
			return true
		}
	}
	return false
}

// Multiline says which lines belong together: exactly one of StartPattern
// and ContinuePattern is set. Lines of one event are joined with their "\n".
type Multiline struct {
	// StartPattern matches the first line of an event; every line that does
	// not match it belongs to the event before (e.g. "^\\d{4}-\\d{2}-\\d{2}" for
	// logs whose records start with a date).
	StartPattern string `json:"start_pattern,omitempty"`
	// ContinuePattern matches the lines that belong to the event before;
	// every other line starts an event (e.g. "^\\s" for indented traces).
	ContinuePattern string `json:"continue_pattern,omitempty"`
	// MaxLines ends an event at this many lines; default 500. An event also
	// ends before it would outgrow max_line_bytes.
	MaxLines int `json:"max_lines,omitempty"`
	// Timeout ships an event once no line has followed it for this long, as
	// a Go duration; default "1s". The last event of a burst waits this long.
	Timeout string `json:"timeout,omitempty"`

	// Set by validation.
	pattern   *regexp.Regexp
	continues bool
	timeout   time.Duration
}

// Defaults of Multiline.
const (
	DefaultMultilineMaxLines = 500
	DefaultMultilineTimeout  = time.Second
	maxMultilineLines        = 100_000
	maxMultilineTimeout      = time.Minute
)

// StartsEvent reports whether line begins a new event rather than
// continuing the one before. Only on a validated Multiline.
func (m *Multiline) StartsEvent(line []byte) bool {
	return m.pattern.Match(line) != m.continues
}

// TimeoutDuration is Timeout parsed. Only on a validated Multiline.
func (m *Multiline) TimeoutDuration() time.Duration { return m.timeout }

func (m *Multiline) validate(bad func(string, string, ...any)) {
	pattern := m.StartPattern
	switch {
	case m.StartPattern == "" && m.ContinuePattern == "":
		bad("multiline", "needs start_pattern or continue_pattern")
		return
	case m.StartPattern != "" && m.ContinuePattern != "":
		bad("multiline", "takes start_pattern or continue_pattern, not both")
		return
	case m.ContinuePattern != "":
		pattern, m.continues = m.ContinuePattern, true
	}
	field := "multiline.start_pattern"
	if m.continues {
		field = "multiline.continue_pattern"
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		bad(field, "%q is not a valid regular expression (Go RE2 syntax): %v", pattern, err)
	}
	m.pattern = re
	if m.MaxLines == 0 {
		m.MaxLines = DefaultMultilineMaxLines
	}
	if m.MaxLines < 2 || m.MaxLines > maxMultilineLines {
		bad("multiline.max_lines", "%d is not between 2 and %d", m.MaxLines, maxMultilineLines)
	}
	m.timeout = DefaultMultilineTimeout
	if m.Timeout != "" {
		d, err := time.ParseDuration(m.Timeout)
		if err != nil || d < 10*time.Millisecond || d > maxMultilineTimeout {
			bad("multiline.timeout", "%q is not a duration between 10ms and %v such as \"1s\"", m.Timeout, maxMultilineTimeout)
		}
		m.timeout = d
	} else {
		m.Timeout = DefaultMultilineTimeout.String()
	}
}

// Excluded reports whether one of e.Exclude matches path. Patterns are
// validated by ParseCollectConfig, so a malformed one simply does not match.
func (e Entry) Excluded(path string) bool {
	for _, pat := range e.Exclude {
		name := path
		if !strings.Contains(pat, "/") {
			name = filepath.Base(path)
		}
		if conf.MatchGlob(pat, name) {
			return true
		}
	}
	return false
}

// Matches reports whether path is selected by this entry: it matches Path
// (exactly, or as a glob) and is not excluded.
func (e Entry) Matches(path string) bool {
	return conf.MatchGlob(e.Path, path) && !e.Excluded(path)
}

// Topics lists the distinct topics of entries, sorted.
func Topics(entries []Entry) []string {
	topics := make([]string, 0, len(entries))
	for _, e := range entries {
		topics = append(topics, e.Topic)
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

// IsGlob reports whether Path contains glob metacharacters.
func (e Entry) IsGlob() bool { return HasGlobMeta(e.Path) }

// HasGlobMeta reports whether s has a character filepath.Match treats
// specially.
func HasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// ConfigError is what ParseCollectConfig returns for a rejected value: every
// problem it found, in order, each naming the entry index and field.
type ConfigError struct {
	Problems []string
}

// Error joins the problems with "; " so the reason fits on one line of a log
// or a status key.
func (e *ConfigError) Error() string {
	return strings.Join(e.Problems, "; ")
}

// ParseCollectConfig parses and validates a collect config value, strictly:
// unknown or wrongly-cased fields, trailing data and values of the wrong type
// are errors. Defaults are filled in on the returned entries. An empty array
// is valid and means "collect nothing". Errors are *ConfigError.
func ParseCollectConfig(data []byte) ([]Entry, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, oneProblem("empty value: " + exampleShape)
	}
	if trimmed[0] != '[' {
		return nil, oneProblem(fmt.Sprintf("got %s: %s", jsonKind(trimmed), exampleShape))
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	var raws []json.RawMessage
	if err := dec.Decode(&raws); err != nil {
		return nil, oneProblem(describeJSONError(data, err))
	}
	// Decode stops after the array; anything but whitespace after it is a
	// mistake (two arrays pasted together, a stray bracket).
	end := dec.InputOffset()
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, oneProblem(fmt.Sprintf("unexpected data after the array at byte offset %d", end))
	}

	entries := make([]Entry, 0, len(raws))
	var problems []string
	firstAt := map[string]int{}
	for i, raw := range raws {
		e, errs := parseEntry(raw)
		if j, seen := firstAt[e.Path]; seen && e.Path != "" {
			errs = append(errs, fmt.Sprintf("path: listed again (first in entry %d); one entry per path", j))
		} else {
			firstAt[e.Path] = i
		}
		if len(errs) > 0 {
			label := fmt.Sprintf("entry %d", i)
			if e.Path != "" {
				label = fmt.Sprintf("entry %d (path %q)", i, e.Path)
			}
			for _, msg := range errs {
				problems = append(problems, label+": "+msg)
			}
			continue
		}
		entries = append(entries, e)
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	return entries, nil
}

func oneProblem(msg string) error {
	return &ConfigError{Problems: []string{msg}}
}

// parseEntry decodes and validates one array element. It returns what it
// could decode (for the path in messages) and the problems found.
func parseEntry(raw json.RawMessage) (Entry, []string) {
	var e Entry
	if len(raw) == 0 || raw[0] != '{' {
		return e, []string{fmt.Sprintf("must be a JSON object, got %s", jsonKind(raw))}
	}
	msgs := checkKeys(raw, entryFields, "")
	if m, ok := objectField(raw, "multiline"); ok && len(msgs) == 0 {
		msgs = checkKeys(m, multilineFields, "multiline.")
	}
	if ts, ok := objectField(raw, "timestamp"); ok && len(msgs) == 0 {
		msgs = checkKeys(ts, timestampFields, "timestamp.")
	}
	if len(msgs) > 0 {
		// Still take the path (exact key only) so the message can show it.
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			_ = json.Unmarshal(m["path"], &e.Path)
		}
		return e, msgs
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return e, []string{fmt.Sprintf("%s: must be %s, got %s", te.Field, typeName(te.Field), te.Value)}
		}
		return e, []string{err.Error()}
	}
	return e, e.validate()
}

// objectField returns the value of key in the object raw if it is an object.
func objectField(raw json.RawMessage, key string) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	v := bytes.TrimSpace(m[key])
	return v, len(v) > 0 && v[0] == '{'
}

// checkKeys reports unknown, wrongly-cased and duplicate keys of one object
// with the given fields; prefix names the object in the messages.
func checkKeys(raw json.RawMessage, fields []string, prefix string) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return []string{err.Error()}
	}
	var msgs []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return append(msgs, err.Error())
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return append(msgs, err.Error())
		}
		switch {
		case !slices.Contains(fields, key):
			msg := fmt.Sprintf("unknown field %q", prefix+key)
			if s := suggestField(key, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", prefix+s)
			} else {
				msg += " (known fields: " + strings.Join(fields, ", ") + ")"
			}
			msgs = append(msgs, msg)
		case seen[key]:
			msgs = append(msgs, fmt.Sprintf("field %q given twice", prefix+key))
		}
		seen[key] = true
	}
	return msgs
}

// suggestField returns the field closest to key, if it is a likely typo.
func suggestField(key string, fields []string) string {
	best, bestDist := "", 3 // more than 2 edits is not a typo
	for _, f := range fields {
		if strings.EqualFold(f, key) {
			return f
		}
		if d := editDistance(strings.ToLower(key), f); d < bestDist {
			best, bestDist = f, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validate checks the decoded fields and fills in defaults.
func (e *Entry) validate() []string {
	var msgs []string
	bad := func(field, format string, args ...any) {
		msgs = append(msgs, field+": "+fmt.Sprintf(format, args...))
	}

	switch {
	case e.Path == "":
		bad("path", "must not be empty")
	case !filepath.IsAbs(e.Path):
		bad("path", "%q must be absolute", e.Path)
	default:
		if err := checkClean(e.Path); err != nil {
			bad("path", "%v", err)
		} else if err := conf.ValidateGlob(e.Path); err != nil {
			bad("path", "%v", err)
		}
	}

	// A disabled entry needs only the path of what it removes.
	if !e.Disabled || e.Topic != "" {
		if err := conf.ValidateTopicName(e.Topic); err != nil {
			bad("topic", "%v", err)
		}
	}

	for i, pat := range e.Exclude {
		if err := checkExclude(pat); err != nil {
			bad(fmt.Sprintf("exclude[%d]", i), "%v", err)
		}
	}

	for k := range e.Fields {
		if strings.TrimSpace(k) == "" {
			bad("fields", "keys must not be empty")
			break
		}
	}

	e.Start = oneOf(e.Start, StartBeginning, startValues, "start", bad)
	e.Timestamp.validate(bad)
	e.Format = oneOf(e.Format, FormatEnvelope, formatValues, "format", bad)

	if e.MaxLineBytes != 0 && e.MaxLineBytes < MinMaxLineBytes {
		bad("max_line_bytes", "%d is too small: use 0 for the agent default or at least %d", e.MaxLineBytes, MinMaxLineBytes)
	}
	if e.Multiline != nil {
		e.Multiline.validate(bad)
	}
	e.include = compileAll(e.IncludeLines, "include_lines", bad)
	e.exclude = compileAll(e.ExcludeLines, "exclude_lines", bad)
	if e.IgnoreOlder != "" {
		d, err := time.ParseDuration(e.IgnoreOlder)
		if err != nil || d <= 0 {
			bad("ignore_older", "%q is not a positive duration such as \"72h\"", e.IgnoreOlder)
		}
		e.ignoreOlder = d
	}
	return msgs
}

// compileAll compiles a list of regular expressions, reporting each that
// does not compile.
func compileAll(patterns []string, field string, bad func(string, string, ...any)) []lineMatcher {
	var out []lineMatcher
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			bad(fmt.Sprintf("%s[%d]", field, i), "%q is not a valid regular expression (Go RE2 syntax): %v", p, err)
			continue
		}
		out = append(out, newLineMatcher(re))
	}
	return out
}

// oneOf returns v, or def when v is empty, reporting v if it is not allowed.
func oneOf(v, def string, allowed []string, field string, bad func(string, string, ...any)) string {
	if v == "" {
		return def
	}
	if !slices.Contains(allowed, v) {
		bad(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	return v
}

// checkClean refuses a path that filepath.Clean would change. Paths are
// shipped, shown and matched as written, so "/var/log/../../etc/passwd"
// would read /etc/passwd under a name that hides it, and a site's
// files.allowed_paths could not judge it; "//", "/./" and a trailing "/"
// would give one file two names.
func checkClean(p string) error {
	clean := filepath.Clean(p)
	switch {
	case clean == p:
		return nil
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("%q has \"..\" segments; write the path they lead to: %q", p, clean)
	default:
		return fmt.Errorf("%q is not a clean path; write it as %q", p, clean)
	}
}

// checkExclude checks one exclude pattern. One with a "/" is matched
// against whole (absolute, clean) paths, so it must be one too, or it
// would never match.
func checkExclude(pat string) error {
	switch {
	case pat == "":
		return errors.New("must not be empty")
	case !strings.Contains(pat, "/"):
	case !filepath.IsAbs(pat):
		return fmt.Errorf("%q has a \"/\" but is not absolute: it is matched against whole paths (a pattern without \"/\" matches base names)", pat)
	default:
		if err := checkClean(pat); err != nil {
			return err
		}
	}
	return conf.ValidateGlob(pat)
}

// describeJSONError turns a decode error of the top-level array into a message
// with the byte offset.
func describeJSONError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// se.Offset counts the bytes read, the offending one included.
		at := max(se.Offset-1, 0)
		return fmt.Sprintf("invalid JSON at byte offset %d: %v (near: %s)", at, se, excerpt(data, at))
	case errors.As(err, &te):
		return fmt.Sprintf("got %s at byte offset %d: %s", te.Value, te.Offset, exampleShape)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("invalid JSON: unexpected end of input at byte offset %d", len(data))
	default:
		return fmt.Sprintf("invalid JSON: %v", err)
	}
}

// excerpt shows the bytes around offset at, on one line, with ">>" marking
// the offending byte.
func excerpt(data []byte, at int64) string {
	at = min(at, int64(len(data)))
	lo := max(at-20, 0)
	hi := min(at+10, int64(len(data)))
	s := string(data[lo:at]) + ">>" + string(data[at:hi])
	return strings.Join(strings.Fields(s), " ")
}

// jsonKind names the JSON type a value starts with, for messages.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	default:
		return "invalid JSON"
	}
}

// typeName describes the JSON type a field expects.
func typeName(field string) string {
	switch field {
	case "max_line_bytes", "multiline.max_lines":
		return "a whole number"
	case "multiline":
		return `an object such as {"start_pattern":"^\\d{4}-"}`
	case "disabled":
		return "true or false"
	case "timestamp":
		return `a string (none, nginx, iso8601, syslog) or an object such as {"layout":"2006-01-02 15:04:05"}`
	case "exclude", "include_lines", "exclude_lines":
		return "an array of strings"
	case "fields":
		return "an object with string values"
	default:
		return "a string"
	}
}
