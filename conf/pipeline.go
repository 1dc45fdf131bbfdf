package conf

import (
	"cmp"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// Pipeline is one topic's processing in transfer.yaml: the name of a
// predefined pipeline (json, nginx, combined: the parse modes), a list of
// steps, or both steps and the types of fields they write:
//
//	pipelines:
//	  web_log: nginx
//	  app_log:
//	    - grok: {patterns: ['%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:log.level} %{GREEDYDATA:msg}']}
//	    - date: {field: ts, layouts: ["2006-01-02 15:04:05.000"]}
//	  pay_log:
//	    steps: [...]
//	    fields: {latency_ms: float}
//
// The steps are checked and compiled by package transfer/pipeline, when the
// transfer starts or reloads and by logtransfer -check; this package only
// reads their shape.
type Pipeline struct {
	// Name is a predefined pipeline; it runs before Steps.
	Name string
	// Steps are the steps, each a map with one step type key and an
	// optional "if".
	Steps []map[string]any
	// Fields declares the types of fields (int, float, bool, ip, string)
	// for the topic's index template, besides those convert steps write.
	Fields map[string]string
}

// UnmarshalYAML reads a name, a list of steps, or {name, steps, fields}.
func (p *Pipeline) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&p.Name)
	case yaml.SequenceNode:
		return n.Decode(&p.Steps)
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i].Value; !slices.Contains([]string{"name", "steps", "fields"}, k) {
				return fmt.Errorf("line %d: unknown pipeline key %q (name, steps, fields)", n.Content[i].Line, k)
			}
		}
		var o struct {
			Name   string            `yaml:"name"`
			Steps  []map[string]any  `yaml:"steps"`
			Fields map[string]string `yaml:"fields"`
		}
		if err := n.Decode(&o); err != nil {
			return err
		}
		p.Name, p.Steps, p.Fields = o.Name, o.Steps, o.Fields
		return nil
	}
	return fmt.Errorf("line %d: a pipeline is a name (nginx, combined, json), a list of steps, or {steps: [...], fields: {...}}", n.Line)
}

// validatePipelines checks what this package can: the topics, the names,
// and that a topic's parse mode is given once.
func (t *Transfer) validatePipelines() error {
	for topic, p := range t.Pipelines {
		if !slices.Contains(t.Topics, topic) {
			return fmt.Errorf("pipelines: topic %q is not in topics %v", topic, t.Topics)
		}
		switch p.Name {
		case "", ParseJSON, ParseNginx, ParseCombined:
		default:
			return fmt.Errorf("pipelines.%s: %q is not a predefined pipeline (json, nginx, combined)", topic, p.Name)
		}
		if mode, ok := t.Parse[topic]; ok && p.Name != "" && mode != p.Name {
			return fmt.Errorf("pipelines.%s: %q, but parse.%s is %q: name it once", topic, p.Name, topic, mode)
		}
		if p.Name == "" && len(p.Steps) == 0 {
			return fmt.Errorf("pipelines.%s: no steps", topic)
		}
	}
	return nil
}

// ParseMode is how topic's message is parsed before its pipeline's steps:
// its pipeline's predefined name, or its parse setting, or none.
func (t *Transfer) ParseMode(topic string) string {
	if p := t.Pipelines[topic]; p.Name != "" {
		return p.Name
	}
	return cmp.Or(t.Parse[topic], ParseNone)
}
