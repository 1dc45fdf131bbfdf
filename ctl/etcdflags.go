package ctl

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
)

// EtcdFlags are etcdctl's connection flags, with the same names, defaults
// and ETCDCTL_* environment variables, plus --prefix for logagent's keys.
type EtcdFlags struct {
	endpoints      string
	user           string
	password       string
	cacert         string
	cert           string
	key            string
	insecureTLS    bool
	dialTimeout    time.Duration
	commandTimeout time.Duration
	prefix         string
}

// Register adds the flags to fs; a flag left unset falls back to its
// environment variable, then to etcdctl's default.
func (f *EtcdFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoints, "endpoints", env("ETCDCTL_ENDPOINTS", "127.0.0.1:2379"), "comma-separated etcd endpoints (ETCDCTL_ENDPOINTS)")
	fs.StringVar(&f.user, "user", env("ETCDCTL_USER", ""), "username[:password] (ETCDCTL_USER)")
	fs.StringVar(&f.password, "password", env("ETCDCTL_PASSWORD", ""), "password, when --user has none (ETCDCTL_PASSWORD)")
	fs.StringVar(&f.cacert, "cacert", env("ETCDCTL_CACERT", ""), "verify the server with this CA bundle (ETCDCTL_CACERT)")
	fs.StringVar(&f.cert, "cert", env("ETCDCTL_CERT", ""), "client certificate (ETCDCTL_CERT)")
	fs.StringVar(&f.key, "key", env("ETCDCTL_KEY", ""), "client key (ETCDCTL_KEY)")
	insecure, _ := strconv.ParseBool(env("ETCDCTL_INSECURE_SKIP_TLS_VERIFY", "false"))
	fs.BoolVar(&f.insecureTLS, "insecure-skip-tls-verify", insecure, "skip server certificate verification (ETCDCTL_INSECURE_SKIP_TLS_VERIFY)")
	fs.DurationVar(&f.dialTimeout, "dial-timeout", envDuration("ETCDCTL_DIAL_TIMEOUT", 2*time.Second), "dial timeout (ETCDCTL_DIAL_TIMEOUT)")
	fs.DurationVar(&f.commandTimeout, "command-timeout", envDuration("ETCDCTL_COMMAND_TIMEOUT", 5*time.Second), "timeout of one command (ETCDCTL_COMMAND_TIMEOUT)")
	fs.StringVar(&f.prefix, "prefix", env("LOGCTL_PREFIX", "/logagent/"), "key prefix, as etcd.prefix in agent.yaml (LOGCTL_PREFIX)")
}

// Config turns the flags into the agent's etcd settings, so logctl connects
// exactly as the agent does.
func (f *EtcdFlags) Config() conf.Etcd {
	c := conf.Etcd{Endpoints: SplitList(f.endpoints), Prefix: f.prefix, DialTimeout: f.dialTimeout}
	user, password, hasPassword := strings.Cut(f.user, ":")
	if !hasPassword {
		password = f.password
	}
	c.Username, c.Password = user, conf.Secret(password)
	// As in etcdctl, TLS is on for https:// endpoints or given certificates;
	// --insecure-skip-tls-verify alone does not turn it on.
	if f.cacert != "" || f.cert != "" || anyHTTPS(c.Endpoints) {
		c.TLS = conf.TLS{Enabled: true, CAFile: f.cacert, CertFile: f.cert, KeyFile: f.key, InsecureSkipVerify: f.insecureTLS}
	}
	c.SetDefaults() // the prefix ends in "/", as the agent's does
	return c
}

// Connect opens a client that connects exactly as the agent's does.
func (f *EtcdFlags) Connect() (*clientv3.Client, error) {
	cli, err := etcd.NewClient(f.Config())
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(conf.RedactURLs(SplitList(f.endpoints)), ","), err)
	}
	return cli, nil
}

// CommandTimeout bounds each etcd request (etcdctl's --command-timeout);
// time spent in an editor or at a prompt does not count.
func (f *EtcdFlags) CommandTimeout() time.Duration { return f.commandTimeout }

// Prefix is the key prefix, ending in "/".
func (f *EtcdFlags) Prefix() string { return f.Config().Prefix }

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func anyHTTPS(endpoints []string) bool {
	for _, e := range endpoints {
		if strings.HasPrefix(e, "https://") {
			return true
		}
	}
	return false
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
