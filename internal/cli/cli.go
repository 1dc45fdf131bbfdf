// Package cli holds what the daemons' mains share: flags, logging, signals.
package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Version is set at build time with -ldflags "-X github.com/logagent/logagent/internal/cli.Version=…".
var Version = "dev"

// Flags are the options every daemon takes.
type Flags struct {
	Config     string
	Check      bool
	Version    bool
	CPUProfile string
}

// ParseFlags parses -config, -check, -version and -cpuprofile.
func ParseFlags(name, defaultConfig string) Flags {
	var f Flags
	flag.StringVar(&f.Config, "config", defaultConfig, "config file")
	flag.BoolVar(&f.Check, "check", false, "validate the config file and exit")
	flag.BoolVar(&f.Version, "version", false, "print the version and exit")
	flag.StringVar(&f.CPUProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file until the daemon stops")
	flag.Parse()
	if f.Version {
		fmt.Printf("%s %s\n", name, Version)
		os.Exit(0)
	}
	return f
}

// Logger returns a structured logger on stderr (journald adds timestamps).
func Logger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by conf
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// SignalContext is cancelled on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// Fatal prints a clear message and exits 1.
func Fatal(name string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

// Run runs a daemon's body under a context that SIGTERM and SIGINT cancel
// (stop cancels it too), with the CPU profiler on if cpuProfile is set. While
// profiling, further signals are caught and ignored until body returned and
// the profile is written: a second SIGTERM during shutdown would lose it.
func Run(cpuProfile string, body func(ctx context.Context, stop context.CancelFunc) error) error {
	if cpuProfile != "" {
		// Deferred first, so it ends after the profile is written.
		ignored := make(chan os.Signal, 1)
		signal.Notify(ignored, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(ignored)
	}
	stopProfile, err := StartCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := SignalContext()
	defer stop()
	return body(ctx, stop)
}

// StartCPUProfile starts the CPU profiler writing to path; "" profiles
// nothing. stop ends it and closes the file. The daemons' -cpuprofile, and
// how the benchmarks profile the real binaries.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
