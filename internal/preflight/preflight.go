// Package preflight is the daemons' -check. Without -connect it checks
// what the config file alone tells: every secret reference resolves, as
// the daemon will resolve it, and no secret is readable by group or
// others. With -connect it also reaches each service the config names,
// with the configured TLS and credentials, changing nothing there. Every
// check prints one line, "<what> ok: …", "<what> WARNING: …" or
// "<what> FAILED: …"; a failure makes the check fail. Secrets are never
// printed, and URLs are printed without their passwords.
package preflight

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/transfer"
)

// serviceTimeout bounds the checks of one service, so an address that
// drops packets fails the check instead of hanging it.
const serviceTimeout = 15 * time.Second

// Agent checks an agent config loaded from path: its secrets, and with
// connect etcd (the host's collect config) and Kafka (the topics of that
// config, or only the brokers when etcd cannot be read). It returns an
// error when a check failed.
func Agent(ctx context.Context, path string, cfg *conf.Agent, connect bool, w io.Writer) error {
	r := &report{w: w}
	r.secrets(path, cfg.Secrets())
	if connect {
		topics, known := r.etcd(ctx, cfg)
		r.kafka(cfg.Kafka, topics, known)
	}
	return r.result(path, fmt.Sprintf("host_id %s, %d Kafka brokers, etcd %v", cfg.HostID, len(cfg.Kafka.Brokers), conf.RedactURLs(cfg.Etcd.Endpoints)))
}

// Transfer checks a transfer config loaded from path: its secrets, and
// with connect Kafka (the consumed and dead-letter topics) and
// Elasticsearch. log receives the engine client's own messages.
func Transfer(ctx context.Context, path string, cfg *conf.Transfer, connect bool, w io.Writer, log *slog.Logger) error {
	r := &report{w: w}
	r.secrets(path, cfg.Secrets())
	r.pipelines(cfg)
	if connect {
		topics := slices.Clone(cfg.Topics)
		for _, t := range cfg.Topics {
			topics = append(topics, cfg.DLQTopicFor(t))
		}
		r.kafka(cfg.Kafka, topics, true)
		r.elasticsearch(ctx, cfg, log)
	}
	return r.result(path, fmt.Sprintf("group %s, topics %v, %d Kafka brokers, Elasticsearch %v",
		cfg.GroupID, cfg.Topics, len(cfg.Kafka.Brokers), conf.RedactURLs(cfg.Elasticsearch.URLs)))
}

// pipelines compiles the topics' pipelines as the transfer does when it
// starts: a step that does not compile fails the check, named by position.
func (r *report) pipelines(cfg *conf.Transfer) {
	if len(cfg.Pipelines) == 0 {
		return
	}
	if _, err := transfer.NewConverter(cfg); err != nil {
		r.fail("pipelines", err)
		return
	}
	var each []string
	for _, topic := range slices.Sorted(maps.Keys(cfg.Pipelines)) {
		p := cfg.Pipelines[topic]
		desc := fmt.Sprintf("%d steps", len(p.Steps))
		switch {
		case p.Name != "" && len(p.Steps) == 0:
			desc = p.Name
		case p.Name != "":
			desc = p.Name + " + " + desc
		}
		each = append(each, topic+": "+desc)
	}
	r.ok("pipelines", "%s (try them: logtransfer test-pipeline -topic T < lines)", strings.Join(each, "; "))
}

// report prints the checks' lines and counts the failures.
type report struct {
	w        io.Writer
	failures int
}

func (r *report) ok(what, format string, args ...any) {
	fmt.Fprintf(r.w, "%s ok: %s\n", what, fmt.Sprintf(format, args...))
}

func (r *report) warn(what, format string, args ...any) {
	fmt.Fprintf(r.w, "%s WARNING: %s\n", what, fmt.Sprintf(format, args...))
}

func (r *report) fail(what string, err error) {
	r.failures++
	fmt.Fprintf(r.w, "%s FAILED: %s\n", what, oneLine(err))
}

// result prints the summary line.
func (r *report) result(path, summary string) error {
	if r.failures > 0 {
		fmt.Fprintf(r.w, "%s: FAILED (%d of the checks above)\n", path, r.failures)
		return fmt.Errorf("%s: %d checks failed", path, r.failures)
	}
	fmt.Fprintf(r.w, "%s: OK (%s)\n", path, summary)
	return nil
}

// secrets resolves every secret and checks who can read them.
func (r *report) secrets(path string, secrets []conf.NamedSecret) {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s conf.NamedSecret) bool { return s.Secret == "" })
	if len(secrets) == 0 {
		return
	}
	failed := false
	for _, err := range unjoin(conf.ResolveSecrets(secrets)) {
		r.fail("secrets", err)
		failed = true
	}
	for _, err := range unjoin(conf.CheckSecretExposure(path, secrets)) {
		r.fail("secrets", err)
		failed = true
	}
	if failed {
		return
	}
	sources := make([]string, len(secrets))
	for i, s := range secrets {
		sources[i] = fmt.Sprintf("%s (%s)", s.Field, s.Secret.Source())
	}
	r.ok("secrets", "%s", strings.Join(sources, ", "))
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// oneLine keeps an error on its line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
