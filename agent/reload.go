package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/logagent/logagent/conf"
)

// Reloaded says what a reload did with the settings that changed.
type Reloaded struct {
	Applied      []string // top-level agent.yaml keys now in force
	NeedsRestart []string // changed, but kept at their running values
}

// restartKeys are the settings a reload cannot change: they name the
// agent's identity (event ids derive from host_id), where its registry is,
// and a listener bound at start.
var restartKeys = []string{"host_id", "state_dir", "http_listen"}

type reloadRequest struct {
	next  *conf.Agent
	reply chan reloaded
}

type reloaded struct {
	Reloaded
	err error
}

// Reload applies next, a validated agent.yaml, to the running agent (SIGHUP):
// the log level at once; Kafka, etcd, limits and files by restarting the
// pipeline in the process (drain, save the registry, start again from it:
// nothing is lost, what was not acknowledged is sent again under the same
// ids). host_id, state_dir and http_listen keep their running values until
// a restart; the log says so. A next whose Kafka settings do not build is
// refused and changes nothing.
func (a *Agent) Reload(ctx context.Context, next *conf.Agent) (Reloaded, error) {
	req := reloadRequest{next: next, reply: make(chan reloaded, 1)}
	select {
	case a.reloads <- req:
	case <-ctx.Done():
		return Reloaded{}, fmt.Errorf("reload: %w", ctx.Err())
	}
	r := <-req.reply
	return r.Reloaded, r.err
}

// apply is Reload's work, in Run's goroutine. It returns the pipeline
// running afterwards; an error is Run's to return (the pipeline could not
// start again).
func (a *Agent) apply(req reloadRequest, p *pipeline, reg *Registry) (*pipeline, error) {
	cur := a.cfg.Load()
	next := *req.next
	var r reloaded
	for _, key := range conf.Changed(cur, &next) {
		if slices.Contains(restartKeys, key) {
			r.NeedsRestart = append(r.NeedsRestart, key)
		} else {
			r.Applied = append(r.Applied, key)
		}
	}
	next.HostID, next.StateDir, next.HTTPListen = cur.HostID, cur.StateDir, cur.HTTPListen
	if len(r.NeedsRestart) > 0 {
		a.log.Warn("changed settings apply only after a restart; they keep their running values", "settings", r.NeedsRestart)
	}
	if _, err := next.Kafka.Sarama(); err != nil {
		r.Applied, r.err = nil, fmt.Errorf("kafka: %w", err)
		req.reply <- r
		return p, nil
	}
	a.cfg.Store(&next)
	restart := slices.ContainsFunc(r.Applied, func(k string) bool { return k != "log_level" })
	a.log.Info("config reloaded", "applied", r.Applied, "needs_restart", r.NeedsRestart, "restarts_pipeline", restart)
	if a.level != nil { // after saying so: at a higher level the line would not show
		a.level.Set(conf.SlogLevel(next.LogLevel))
	}
	if !restart {
		req.reply <- r
		return p, nil
	}
	stopErr := p.stop()
	started, err := a.startPipeline(&next, reg)
	req.reply <- r
	if err = errors.Join(stopErr, err); err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	a.log.Info("reading and shipping again under the reloaded config")
	return started, nil
}
