// Package cli holds what the daemons' mains share: flags, logging, signals.
package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X github.com/logagent/logagent/internal/cli.Version=…".
var Version = "dev"

// Flags are the options every daemon takes.
type Flags struct {
	Config  string
	Check   bool
	Version bool
}

// ParseFlags parses -config, -check and -version.
func ParseFlags(name, defaultConfig string) Flags {
	var f Flags
	flag.StringVar(&f.Config, "config", defaultConfig, "config file")
	flag.BoolVar(&f.Check, "check", false, "validate the config file and exit")
	flag.BoolVar(&f.Version, "version", false, "print the version and exit")
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
