// Package zincenv builds the environment of the ZincSearch stand-in
// (tools/zincsearch, built into .cache/bin/zincsearch-es), which the tests,
// the demo and the benchmarks all start the same way.
package zincenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Server is one zincsearch-es process's settings.
type Server struct {
	Port     int    // on 127.0.0.1
	DataDir  string // also its working directory: Zinc reads a .env file there
	User     string // the first admin, created in a fresh data dir
	Password string
	Extra    []string // more KEY=value, after (so winning over) the defaults
}

// Env is the caller's environment minus Zinc's and gin's settings (a stray
// ZINC_DATA_PATH must not point the server elsewhere), plus s. ZINC_LOG_LEVEL
// passes through.
func Env(s Server) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "ZINC_") && k != "ZINC_LOG_LEVEL") || strings.HasPrefix(k, "GIN_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"ZINC_SERVER_ADDRESS=127.0.0.1",
		"ZINC_SERVER_PORT="+strconv.Itoa(s.Port),
		"ZINC_DATA_PATH="+s.DataDir,
		"ZINC_FIRST_ADMIN_USER="+s.User,
		"ZINC_FIRST_ADMIN_PASSWORD="+s.Password,
		// zincsearch-es forces these off anyway; in a stock Zinc they
		// default to on and phone home.
		"ZINC_TELEMETRY=false",
		"ZINC_SENTRY=false",
		"ZINC_PROFILER=false",
		"GIN_MODE=release",
		// Documents become searchable 0.1-0.3 s after the bulk, not ~1 s.
		"ZINC_WAL_SYNC_INTERVAL=100ms",
		// The starter keeps the write end of a stdin pipe: when it dies,
		// however it dies, Zinc sees EOF and stops instead of lingering.
		"ZINC_STOP_ON_STDIN_EOF=true",
	)
	return append(env, s.Extra...)
}

// RelPath is where scripts/build-zinc.sh puts the binary, from the repo root.
const RelPath = ".cache/bin/zincsearch-es"

// BinEnv names a zincsearch-es binary to use instead of RelPath's.
const BinEnv = "LOGAGENT_ZINC_BIN"

// Binary is $LOGAGENT_ZINC_BIN, or RelPath under root; an error says how to
// get it.
func Binary(root string) (string, error) {
	const hint = "run `make deps` (or scripts/build-zinc.sh) to build it"
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v; unset it or %s", BinEnv, p, err, hint)
		}
		return p, nil
	}
	p := filepath.Join(root, RelPath)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("ZincSearch binary %s not found; %s", p, hint)
		}
		return "", fmt.Errorf("ZincSearch binary: %v; %s", err, hint)
	}
	return p, nil
}

// NoIndex reports whether a search answer is Zinc's way of saying that no
// index matches the pattern yet (HTTP 400), which callers count as none.
func NoIndex(status int, body []byte) bool {
	return status == http.StatusBadRequest &&
		(bytes.Contains(body, []byte("does not exist")) || bytes.Contains(body, []byte("no index found")))
}
