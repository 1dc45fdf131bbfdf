package preflight

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/transfer"
)

// elasticsearch asks the engine who it is and whether each topic's index
// template is installed, with the transfer's own client.
func (r *report) elasticsearch(ctx context.Context, cfg *conf.Transfer, log *slog.Logger) {
	where := describeElastic(cfg.Elasticsearch)
	es, err := transfer.NewElastic(cfg, log)
	if err != nil {
		r.fail("elasticsearch", fmt.Errorf("%s: %w", where, err))
		return
	}
	defer es.Stop()
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	info, err := es.Info(ctx)
	if err != nil {
		r.fail("elasticsearch", fmt.Errorf("%s: %w", where, err))
		return
	}
	var templates []string
	for _, topic := range cfg.Topics {
		installed, err := es.TemplateInstalled(ctx, topic)
		if err != nil {
			r.fail("elasticsearch", fmt.Errorf("%s: %w", where, err))
			return
		}
		state := "not installed yet (the transfer installs it at start)"
		if installed {
			state = "installed"
		}
		templates = append(templates, fmt.Sprintf("%s %s", topic, state))
	}
	engine := strings.TrimSpace(info.Version.Distribution + " " + info.Version.Number)
	r.ok("elasticsearch", "%s: cluster %q, version %s; index templates: %s", where, info.ClusterName, engine, strings.Join(templates, ", "))
}

func describeElastic(es conf.Elasticsearch) string {
	var how []string
	if es.TLS.Enabled {
		how = append(how, "TLS")
	}
	switch {
	case es.Username != "":
		how = append(how, "basic auth as "+es.Username)
	case es.APIKey != "":
		how = append(how, "API key")
	}
	s := strings.Join(conf.RedactURLs(es.URLs), ",")
	if len(how) > 0 {
		s += " (" + strings.Join(how, ", ") + ")"
	}
	return s
}
