package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Spec is one step as configured: exactly one step type as key, with its
// settings, and optionally "if", a condition on the event's fields.
//
//   - grok: {field: message, patterns: ['%{IP:client.ip} %{WORD:method}']}
//     if: 'message startsWith "10."'
type Spec map[string]any

// Pipeline is a compiled list of steps. It is immutable and safe for
// concurrent use.
type Pipeline struct {
	steps []compiled
	types map[string]string // field → declared type, for the index template
}

type compiled struct {
	name string // "grok (step 1)", for messages, tags and metrics
	kind string // "grok"
	cond condition
	step step
}

// step is one processor. apply changes the event in place; an error tags
// the event and ends the pipeline, except errDropped.
type step interface {
	apply(Event) error
}

// typedStep is a step that declares the types of the fields it writes.
type typedStep interface {
	fieldTypes() map[string]string
}

// errDropped is how the drop step says the event is not indexed.
var errDropped = errors.New("dropped")

// stepTypes are the step constructors by name; each decodes its settings
// strictly (unknown keys are errors).
var stepTypes = map[string]func(settings json.RawMessage) (step, error){
	"grok":        newGrok,
	"dissect":     newDissect,
	"json":        newJSON,
	"kv":          newKV,
	"date":        newDate,
	"rename":      newRename,
	"remove":      newRemove,
	"drop_fields": newRemove,
	"set":         newSet,
	"add_fields":  newSet,
	"convert":     newConvert,
	"lowercase":   newLowercase,
	"drop":        newDrop,
}

// StepTypes lists the step names, sorted, for messages and docs.
func StepTypes() []string {
	names := make([]string, 0, len(stepTypes))
	for n := range stepTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Compile checks and compiles specs; fields declares field types beyond
// those convert steps write (for the index template). An error names the
// step by position and type.
func Compile(specs []Spec, fields map[string]string) (*Pipeline, error) {
	p := &Pipeline{types: map[string]string{}}
	for f, t := range fields {
		if !slices.Contains(convertTypes, t) {
			return nil, fmt.Errorf("fields.%s: %q is not one of %s", f, t, strings.Join(convertTypes, ", "))
		}
		p.types[f] = t
	}
	for i, spec := range specs {
		c, err := compileStep(spec)
		if err != nil {
			if c.kind != "" {
				return nil, fmt.Errorf("step %d (%s): %w", i+1, c.kind, err)
			}
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
		c.name = fmt.Sprintf("%s (step %d)", c.kind, i+1)
		if t, ok := c.step.(typedStep); ok {
			for f, ty := range t.fieldTypes() {
				p.types[f] = ty
			}
		}
		p.steps = append(p.steps, c)
	}
	return p, nil
}

func compileStep(spec Spec) (compiled, error) {
	var c compiled
	var kinds []string
	for k := range spec {
		if k != "if" {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		slices.Sort(kinds)
		return c, fmt.Errorf("needs exactly one step type (one of %s) besides \"if\", got %v", strings.Join(StepTypes(), ", "), kinds)
	}
	c.kind = kinds[0]
	newStep, ok := stepTypes[c.kind]
	if !ok {
		return c, fmt.Errorf("unknown step type %q (one of %s)", c.kind, strings.Join(StepTypes(), ", "))
	}
	settings, err := json.Marshal(spec[c.kind])
	if err != nil {
		return c, fmt.Errorf("settings: %w", err)
	}
	if string(settings) == "null" {
		settings = []byte("{}")
	}
	if c.step, err = newStep(settings); err != nil {
		return c, err
	}
	if src, ok := spec["if"]; ok {
		s, isString := src.(string)
		if !isString {
			return c, fmt.Errorf("if: must be a string such as 'level == \"ERROR\"', got %T", src)
		}
		if c.cond, err = compileCondition(s); err != nil {
			return c, fmt.Errorf("if: %w", err)
		}
	}
	return c, nil
}

// decode reads a step's settings into v, strictly.
func decode(settings json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(settings))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// FieldTypes are the fields the pipeline declares with a type: written by
// convert steps or named in its fields map. The index template maps them.
func (p *Pipeline) FieldTypes() map[string]string { return p.types }

// Len is the number of steps.
func (p *Pipeline) Len() int { return len(p.steps) }

// Result says what Run did with an event.
type Result struct {
	// Dropped names the step that dropped the event; "" when it is indexed.
	Dropped string
	// Failed names the step that failed; the event is tagged and indexed.
	Failed string
}

// Run applies the steps to ev in order. A step whose condition is false is
// skipped. A failing step tags ev with "<type>_failure", sets
// error.message, and ends the run: ev is indexed with what it has.
func (p *Pipeline) Run(ev Event) Result {
	for _, c := range p.steps {
		if c.cond != nil {
			ev.materializeAll()
			ok, err := c.cond(ev)
			if err != nil {
				return fail(ev, c, fmt.Errorf("if: %w", err))
			}
			if !ok {
				continue
			}
		}
		err := c.step.apply(ev)
		if errors.Is(err, errDropped) {
			return Result{Dropped: c.name}
		}
		if err != nil {
			return fail(ev, c, err)
		}
	}
	return Result{}
}

func fail(ev Event, c compiled, err error) Result {
	ev.tag(c.kind + "_failure")
	ev.Set("error.message", c.name+": "+err.Error())
	return Result{Failed: c.name}
}
