// Package ctl implements logctl, the operator's tool: it edits and validates
// each host's collect config in etcd (with the agent's own validator, and a
// compare-and-swap so two operators never overwrite each other), shows the
// agents' status, prints least-privilege etcd roles, and lists or replays
// dead-lettered messages. cmd/logctl maps flags onto it.
package ctl
