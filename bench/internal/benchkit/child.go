package benchkit

import (
	"fmt"
	"os"
)

// Child runs the -child mode named mode (this binary started by itself as
// a measured child), one of modes, and exits 1 if it fails or is unknown.
func (p Prog) Child(mode string, modes map[string]func() error) {
	run, ok := modes[mode]
	if !ok {
		run = func() error { return fmt.Errorf("unknown child mode %q", mode) }
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s child %s: %v\n", p, mode, err)
		os.Exit(1)
	}
}
