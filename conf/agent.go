// Package conf loads and validates the daemons' YAML config files. Every
// validation error names the field it is about, so `-check` can tell an
// operator exactly what to fix.
package conf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Agent is /etc/logagent/agent.yaml.
type Agent struct {
	// HostID names this host in etcd keys and events; default the hostname.
	// Some sites key agents by IP address instead.
	HostID string `yaml:"host_id"`
	// Groups name the group layers of collect config this host takes, in
	// order: <prefix>_groups/<group>/collect_config, merged after
	// <prefix>_common/collect_config and before the host's own.
	Groups []string `yaml:"groups"`
	// StateDir holds the registry (acked offsets) and the cached collect config;
	// default /var/lib/logagent.
	StateDir string `yaml:"state_dir"`
	// HTTPListen serves /metrics, /healthz and /readyz; default 127.0.0.1:9431.
	// "off" disables it.
	HTTPListen string `yaml:"http_listen"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
	Kafka    Kafka  `yaml:"kafka"`
	Etcd     Etcd   `yaml:"etcd"`
	Limits   Limits `yaml:"limits"`
	Files    Files  `yaml:"files"`
}

// Limits bound what one line and the whole agent may hold in memory.
type Limits struct {
	// MaxLineBytes splits longer lines into events of at most this size, each
	// flagged "split"; default 256KiB. A collect entry can override it.
	MaxLineBytes ByteSize `yaml:"max_line_bytes"`
	// MaxBytesInFlight caps the memory of all batches together, being
	// encoded or sent to Kafka and not yet acknowledged (their buffers and
	// ~512 B per message); when reached, tailers stop reading. Default 16MiB.
	MaxBytesInFlight ByteSize `yaml:"max_bytes_in_flight"`
	// MemoryLimit is the Go runtime's soft memory limit: near it the garbage
	// collector runs more often instead of letting the heap grow to twice
	// what is live, which bounds RSS when many files are busy at once.
	// Default 2 x max_bytes_in_flight + 16MiB (48MiB); at least
	// max_bytes_in_flight + 16MiB. The GOMEMLIMIT environment variable, if
	// set, takes precedence.
	MemoryLimit ByteSize `yaml:"memory_limit"`
}

// Files tunes file discovery and the lifetime of open files.
type Files struct {
	// RescanInterval is how often globs are expanded again even without a
	// directory event; default 10s.
	RescanInterval time.Duration `yaml:"rescan_interval"`
	// PollInterval is how often an idle open file is checked for growth when no
	// fsnotify event arrived; default 250ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RotateWait keeps reading a renamed or deleted file until it has been idle
	// this long; default 5s.
	RotateWait time.Duration `yaml:"rotate_wait"`
	// CloseInactive closes a file that has not grown for this long; it is reopened
	// when it changes. Default 5m.
	CloseInactive time.Duration `yaml:"close_inactive"`
	// MaxOpenFiles caps open file descriptors for tailed files; default 1024.
	MaxOpenFiles int `yaml:"max_open_files"`
	// ForgetAfter removes a registry entry whose file has been gone this long;
	// default 24h.
	ForgetAfter time.Duration `yaml:"forget_after"`
	// FlushInterval is how often the registry is written; default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// ShutdownTimeout bounds the wait for in-flight acks on SIGTERM; default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// AllowedPaths, when set, are the only files a collect entry may make
	// the agent read: the site's own limit on what anyone who can write
	// the host's collect_config can have shipped. Each is an absolute,
	// clean glob (filepath.Match: "*" stays within one path element) in
	// which a "**" element stands for any number of directories: "/srv/**"
	// is everything below /srv. Empty (the default) allows every path. See
	// Allows.
	AllowedPaths []string `yaml:"allowed_paths"`
}

// Allows reports whether files.allowed_paths lets the agent read path, an
// absolute, clean path: it matches one of the globs (MatchGlob). An empty list allows every path. Give it the
// path with its symbolic links resolved (filepath.EvalSymlinks), or a link
// in an allowed directory leads anywhere.
func (f Files) Allows(path string) bool {
	if len(f.AllowedPaths) == 0 {
		return true
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return false
	}
	for _, pat := range f.AllowedPaths {
		if MatchGlob(pat, path) {
			return true
		}
	}
	return false
}

func (f Files) validateAllowedPaths() error {
	for i, pat := range f.AllowedPaths {
		if pat == "/**" {
			continue
		}
		glob, _ := strings.CutSuffix(pat, "/**")
		field := fmt.Sprintf("files.allowed_paths[%d]", i)
		switch {
		case !filepath.IsAbs(glob):
			return fmt.Errorf("%s: %q must be absolute", field, pat)
		case filepath.Clean(glob) != glob:
			return fmt.Errorf("%s: %q is not a clean path; write it as %q", field, pat, filepath.Clean(glob)+strings.TrimPrefix(pat, glob))
		}
		if err := ValidateGlob(glob); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// LoadAgent reads, defaults and validates an agent config file.
func LoadAgent(path string) (*Agent, error) {
	var a Agent
	if err := decodeFile(path, &a); err != nil {
		return nil, err
	}
	if err := a.SetDefaultsAndValidate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &a, nil
}

// SetDefaultsAndValidate fills unset fields and checks the result.
func (a *Agent) SetDefaultsAndValidate() error {
	if a.HostID == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("host_id: not set and the hostname is unknown: %w", err)
		}
		a.HostID = h
	}
	setDefault(&a.StateDir, "/var/lib/logagent")
	setDefault(&a.HTTPListen, "127.0.0.1:9431")
	setDefault(&a.LogLevel, "info")
	a.Kafka.SetDefaults("logagent")
	a.Etcd.SetDefaults()
	setDefault(&a.Limits.MaxLineBytes, 256<<10)
	setDefault(&a.Limits.MaxBytesInFlight, 16<<20)
	setDefault(&a.Limits.MemoryLimit, 2*a.Limits.MaxBytesInFlight+memoryLimitHeadroom)
	f := &a.Files
	setDefault(&f.RescanInterval, 10*time.Second)
	setDefault(&f.PollInterval, 250*time.Millisecond)
	setDefault(&f.RotateWait, 5*time.Second)
	setDefault(&f.CloseInactive, 5*time.Minute)
	setDefault(&f.MaxOpenFiles, 1024)
	setDefault(&f.ForgetAfter, 24*time.Hour)
	setDefault(&f.FlushInterval, time.Second)
	setDefault(&f.ShutdownTimeout, 10*time.Second)
	return a.validate()
}

// memoryLimitHeadroom is what the agent holds besides batch memory: its
// clients, the registry, a few KiB per open file.
const memoryLimitHeadroom = 16 << 20

func (a *Agent) validate() error {
	if err := ValidateHostID(a.HostID); err != nil {
		return fmt.Errorf("host_id: %w", err)
	}
	for i, g := range a.Groups {
		if err := ValidateGroupName(g); err != nil {
			return fmt.Errorf("groups[%d]: %w", i, err)
		}
		if slices.Contains(a.Groups[:i], g) {
			return fmt.Errorf("groups[%d]: %q is listed twice", i, g)
		}
	}
	if err := validateLogLevel(a.LogLevel); err != nil {
		return err
	}
	if err := validateHTTPListen(a.HTTPListen); err != nil {
		return err
	}
	if err := a.Kafka.validate(); err != nil {
		return err
	}
	if err := a.Etcd.validate(); err != nil {
		return err
	}
	if a.Limits.MaxLineBytes < 64 {
		return fmt.Errorf("limits.max_line_bytes: %d is too small (at least 64)", a.Limits.MaxLineBytes)
	}
	// A split piece may grow up to 6x when escaped into JSON; the shipper
	// splits further if needed, but the raw piece itself must fit.
	if int64(a.Limits.MaxLineBytes) > int64(a.Kafka.MaxMessageBytes)-1024 {
		return fmt.Errorf("limits.max_line_bytes: %d must stay below kafka.max_message_bytes (%d) minus 1KiB for the envelope",
			a.Limits.MaxLineBytes, a.Kafka.MaxMessageBytes)
	}
	if a.Limits.MaxBytesInFlight < 4*ByteSize(a.Kafka.MaxMessageBytes) {
		return fmt.Errorf("limits.max_bytes_in_flight: %d must be at least 4 x kafka.max_message_bytes (%d)",
			a.Limits.MaxBytesInFlight, 4*a.Kafka.MaxMessageBytes)
	}
	if a.Limits.MemoryLimit < a.Limits.MaxBytesInFlight+memoryLimitHeadroom {
		return fmt.Errorf("limits.memory_limit: %d must be at least limits.max_bytes_in_flight + 16MiB (%d)",
			a.Limits.MemoryLimit, a.Limits.MaxBytesInFlight+memoryLimitHeadroom)
	}
	f := a.Files
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"files.rescan_interval", f.RescanInterval}, {"files.poll_interval", f.PollInterval},
		{"files.rotate_wait", f.RotateWait}, {"files.close_inactive", f.CloseInactive},
		{"files.forget_after", f.ForgetAfter}, {"files.flush_interval", f.FlushInterval},
		{"files.shutdown_timeout", f.ShutdownTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be a positive duration such as 5s", d.name)
		}
	}
	if f.MaxOpenFiles < 1 {
		return fmt.Errorf("files.max_open_files: must be at least 1")
	}
	return f.validateAllowedPaths()
}

// Secrets lists the agent's credentials with their fields.
func (a *Agent) Secrets() []NamedSecret {
	return []NamedSecret{{"kafka.sasl.password", a.Kafka.SASL.Password}, {"etcd.password", a.Etcd.Password}}
}

// The names below the etcd prefix that hold the shared layers of collect
// config: <prefix>_common/collect_config and
// <prefix>_groups/<group>/collect_config. No host may be called so.
const (
	CommonLayerName = "_common"
	GroupsKeyName   = "_groups"
)

// ValidateHostID rejects host ids that would break the etcd key layout.
func ValidateHostID(h string) error {
	if err := validateKeyName(h); err != nil {
		return err
	}
	if h == CommonLayerName || h == GroupsKeyName {
		return fmt.Errorf("%q is reserved: %s and %s/<group> hold the collect config layers shared by hosts", h, CommonLayerName, GroupsKeyName)
	}
	return nil
}

// ValidateGroupName rejects group names that would break the etcd key layout.
func ValidateGroupName(g string) error { return validateKeyName(g) }

func validateKeyName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	if strings.ContainsAny(name, "/ \t\n\r") {
		return fmt.Errorf("%q must not contain '/' or white space", name)
	}
	return nil
}

// validateHTTPListen checks the metrics and health address, so a typo is
// reported by -check rather than when the daemon starts listening.
func validateHTTPListen(addr string) error {
	if addr == "off" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
		return fmt.Errorf("http_listen: %q is not host:port (port 1-65535) or off", addr)
	}
	return nil
}

func validateLogLevel(l string) error {
	switch l {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", l)
}

// decodeFile decodes YAML strictly: an unknown key is an error naming it.
func decodeFile(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
