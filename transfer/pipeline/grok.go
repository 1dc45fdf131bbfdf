package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/elastic/go-grok"
)

// grokStep matches a field against grok patterns, the first that matches
// wins, and sets its named captures ("%{IP:client.ip}", typed with
// "%{NUMBER:bytes:int}") as fields.
type grokStep struct {
	field    string
	patterns []*grok.Grok
}

type grokSettings struct {
	Field    string   `json:"field"`
	Patterns []string `json:"patterns"`
	// PatternDefinitions adds or overrides named patterns, as Logstash's
	// pattern_definitions.
	PatternDefinitions map[string]string `json:"pattern_definitions"`
}

func newGrok(settings json.RawMessage) (step, error) {
	var s grokSettings
	if err := decode(settings, &s); err != nil {
		return nil, err
	}
	if len(s.Patterns) == 0 {
		return nil, errors.New("patterns: at least one, e.g. ['%{IP:client.ip} %{WORD:method} %{URIPATHPARAM:url.original}']")
	}
	st := &grokStep{field: orDefault(s.Field, "message")}
	for i, p := range s.Patterns {
		g, err := grok.NewComplete(s.PatternDefinitions)
		if err != nil {
			return nil, fmt.Errorf("pattern_definitions: %w", err)
		}
		if err := g.Compile(p, true); err != nil {
			return nil, fmt.Errorf("patterns[%d] %q: %w", i, p, err)
		}
		st.patterns = append(st.patterns, g)
	}
	return st, nil
}

func (g *grokStep) apply(ev Event) error {
	text, ok := ev.String(g.field)
	if !ok {
		return fmt.Errorf("field %q is missing or not a string", g.field)
	}
	for _, p := range g.patterns {
		captures, err := p.ParseTypedString(text)
		if err != nil {
			return err
		}
		if len(captures) == 0 && !p.MatchString(text) {
			continue
		}
		for k, v := range captures {
			ev.Set(k, v)
		}
		return nil
	}
	return fmt.Errorf("no pattern matched %q", g.field)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
