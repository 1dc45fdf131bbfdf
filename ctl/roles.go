package ctl

import (
	"fmt"
	"io"

	"github.com/logagent/logagent/etcd"
)

// WriteEtcdRoles prints the etcdctl commands that create a least-privilege
// user and role for host's agent: read the layers of its collect config
// (_common, its groups, its own), write its status (etcd.AgentPermissions,
// the same list the auth tests grant). The password is prompted for by
// etcdctl, so it never lands in shell history.
func WriteEtcdRoles(w io.Writer, prefix, host string, groups []string) error {
	if err := checkHost(host); err != nil {
		return err
	}
	name := "logagent-" + host
	lines := []string{
		"# etcd role and user for the logagent on " + host + "; run with root credentials",
		"# (etcdctl --user root ...). Then set etcd.username: " + name + " in that host's agent.yaml",
		"# and its password as etcd.password: file:/etc/logagent/etcd-password (mode 0640, group logagent).",
		"etcdctl role add " + name,
	}
	for _, p := range etcd.AgentPermissions(prefix, host, groups) {
		perm := "read"
		if p.Write {
			perm = "write"
		}
		lines = append(lines, fmt.Sprintf("etcdctl role grant-permission %s %s %s", name, perm, shellQuote(p.Key)))
	}
	lines = append(lines,
		"etcdctl user add "+name+" # prompts for the password",
		"etcdctl user grant-role "+name+" "+name,
	)
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
		} else {
			out += string(r)
		}
	}
	return out + "'"
}
