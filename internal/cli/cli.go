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

	"github.com/logagent/logagent/conf"
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

// ParseFlags parses -config, -check, -version and -cpuprofile. From here on
// SIGHUP never ends the process, whose default it is: Run delivers it as a
// reload request, and until then (and after) it is ignored.
func ParseFlags(name, defaultConfig string) Flags {
	signal.Ignore(syscall.SIGHUP)
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

// Level is a level variable for Logger set to a validated log_level; a
// reload sets it again.
func Level(logLevel string) *slog.LevelVar {
	v := new(slog.LevelVar)
	v.Set(conf.SlogLevel(logLevel))
	return v
}

// Logger returns a structured logger on stderr (journald adds timestamps).
func Logger(level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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
//
// SIGHUP is a reload request: each arrives on reload, which holds one, so
// SIGHUPs while one waits are one request. It never ends the process, also
// when body does not read reload.
func Run(cpuProfile string, body func(ctx context.Context, stop context.CancelFunc, reload <-chan os.Signal) error) error {
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Ignore(syscall.SIGHUP) // not back to fatal while the process ends
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
	return body(ctx, stop, reload)
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
