package pipeline

import (
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// condition is a compiled "if": true runs the step.
type condition func(Event) (bool, error)

// compileCondition compiles an expression over the event's fields, in the
// expr language: level == "ERROR", http.response.status_code >= 500,
// message matches "^GET ", user != nil (the field exists), and their
// combinations with and, or, not. A field that is missing is nil.
func compileCondition(src string) (condition, error) {
	prog, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("%q: %v", src, err)
	}
	return func(ev Event) (bool, error) { return run(prog, ev) }, nil
}

func run(prog *vm.Program, ev Event) (bool, error) {
	out, err := expr.Run(prog, map[string]any(ev))
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}
