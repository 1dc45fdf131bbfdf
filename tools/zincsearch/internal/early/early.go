// Package early handles the command line and fixes the process environment
// and log level before any ZincSearch package runs.
//
// Zinc reads its configuration from the environment in package init
// functions (pkg/config), opens its metadata store and loads every index in
// others (pkg/metadata, pkg/core), and creates the first admin user in
// pkg/auth's init. A main function runs too late to influence any of that.
// Go initializes packages in import-path order among those whose imports are
// already initialized (Go spec, "Package initialization"); this package
// imports only the standard library and zerolog, which Zinc's config package
// imports too, and its path sorts before github.com/zincsearch/..., so its
// init runs before any Zinc package's.
package early

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/rs/zerolog"
)

const usage = `usage: zincsearch-es [version]

Serves ZincSearch's Elasticsearch-compatible API under /es: a development and
test stand-in for Elasticsearch. Configured through the environment:

  ZINC_DATA_PATH             data directory (required)
  ZINC_SERVER_ADDRESS        listen address (default 127.0.0.1)
  ZINC_SERVER_PORT           listen port (default 4080)
  ZINC_FIRST_ADMIN_USER      admin user created on a new data directory
  ZINC_FIRST_ADMIN_PASSWORD  its password
  ZINC_WAL_SYNC_INTERVAL     how often written documents are indexed (1s)
  ZINC_MAX_RESULTS           largest search size honoured (10000)
  ZINC_LOG_LEVEL             debug, info, warn (default) or error
  ZINC_STOP_ON_STDIN_EOF     true: shut down when stdin reaches end of file

Telemetry, Sentry, the profiler, Prometheus and Swagger are always off.
`

func init() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "version", "-version", "--version":
			fmt.Printf("zincsearch-es (ZincSearch %s, /es API only)\n", zincVersion())
			os.Exit(0)
		case "help", "-h", "-help", "--help":
			fmt.Print(usage)
			os.Exit(0)
		default:
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
	}
	// Zinc would otherwise create ./data wherever it is started.
	if os.Getenv("ZINC_DATA_PATH") == "" {
		fmt.Fprint(os.Stderr, "zincsearch-es: ZINC_DATA_PATH is not set\n\n"+usage)
		os.Exit(2)
	}

	// This binary is a test stand-in: it must never phone home, whatever the
	// caller's environment says. Zinc turns telemetry (Segment) and Sentry
	// error reporting on by default.
	for _, k := range []string{"ZINC_TELEMETRY", "ZINC_SENTRY", "ZINC_PROFILER", "ZINC_PROMETHEUS_ENABLE", "ZINC_SWAGGER_ENABLE"} {
		_ = os.Setenv(k, "false")
	}
	// Listen on loopback unless told otherwise (Zinc's default is every
	// interface), and keep gin quiet.
	setDefault("ZINC_SERVER_ADDRESS", "127.0.0.1")
	setDefault("GIN_MODE", "release")

	level := zerolog.WarnLevel
	if s := strings.TrimSpace(os.Getenv("ZINC_LOG_LEVEL")); s != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(s))
		if err != nil || l == zerolog.NoLevel {
			fmt.Fprintf(os.Stderr, "zincsearch-es: ignoring ZINC_LOG_LEVEL=%q (want debug, info, warn or error)\n", s)
		} else {
			level = l
		}
	}
	zerolog.SetGlobalLevel(level)
}

func setDefault(key, value string) {
	if os.Getenv(key) == "" {
		_ = os.Setenv(key, value)
	}
}

// zincVersion is the ZincSearch module version linked in.
func zincVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/zincsearch/zincsearch" {
				return m.Version
			}
		}
	}
	return "(unknown)"
}
