package benchkit

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/logagent/logagent/internal/cli"
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

// StartCPUProfile starts the CPU profiler writing to path, for a -child's
// -cpuprofile; "" profiles nothing. stop ends it and closes the file.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// RunProfiled runs a service in this process the way its command's main
// does, under a context that SIGINT and SIGTERM cancel (cli.SignalContext),
// with the CPU profiler writing to path ("": none): the -profile variant of a
// run, whose normal variant execs the command's binary.
func RunProfiled(path string, run func(context.Context) error) error {
	stopProfile, err := StartCPUProfile(path)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := cli.SignalContext()
	defer stop()
	return run(ctx)
}
