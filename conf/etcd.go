package conf

import (
	"fmt"
	"strings"
	"time"
)

// Etcd is how the agent and logctl reach etcd.
type Etcd struct {
	// Endpoints are etcd client URLs or host:port; default 127.0.0.1:2379.
	Endpoints []string `yaml:"endpoints"`
	// Prefix roots every key; default /logagent/. Keys are
	// <prefix><host>/collect_config and <prefix><host>/status.
	Prefix string `yaml:"prefix"`
	// DialTimeout bounds each connection attempt; default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	Username    string        `yaml:"username"`
	Password    Secret        `yaml:"password"`
	TLS         TLS           `yaml:"tls"`
}

// SetDefaults fills what was left empty; LoadAgent calls it, and logctl for
// settings from flags.
func (e *Etcd) SetDefaults() {
	if len(e.Endpoints) == 0 {
		e.Endpoints = []string{"127.0.0.1:2379"}
	}
	if e.Prefix == "" {
		e.Prefix = "/logagent/"
	}
	if !strings.HasSuffix(e.Prefix, "/") {
		e.Prefix += "/"
	}
	if e.DialTimeout == 0 {
		e.DialTimeout = 5 * time.Second
	}
}

func (e *Etcd) validate() error {
	for _, ep := range e.Endpoints {
		if strings.Contains(ep, "@") {
			// etcd takes no credentials from an endpoint, and they would
			// be printed wherever the endpoint is.
			return fmt.Errorf("etcd.endpoints: %q carries credentials; use etcd.username and password", RedactURL(ep))
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") {
		return fmt.Errorf("etcd.prefix: %q must start with /", e.Prefix)
	}
	if e.DialTimeout < 0 {
		return fmt.Errorf("etcd.dial_timeout: must be positive")
	}
	if e.Password != "" && e.Username == "" {
		return fmt.Errorf("etcd.username: required when etcd.password is set")
	}
	return e.TLS.validate("etcd.tls")
}
