package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/olivere/elastic/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logagent/logagent/conf"
)

const (
	// retentionInterval is how often Retention looks for expired indices.
	// Indices expire once a day; an hour bounds how long one outlives its
	// day without costing the engine anything worth mentioning.
	retentionInterval = time.Hour
	// probeDays is how many days before the cutoff Retention asks about one
	// by one on an engine that cannot list indices by pattern (ZincSearch).
	// Older indices are not found there.
	probeDays = 366
	// indexDateLayout is {date} in index names.
	indexDateLayout = "2006.01.02"
)

// errNoIndexListing means the engine has no _resolve/index endpoint.
var errNoIndexListing = errors.New("the engine cannot list indices by pattern")

// Retention deletes the daily indices of the transfer's topics once their
// date is more than retention_days before today (UTC). It looks at start and
// every hour. Only indices whose whole name is the configured index pattern
// with a valid date are ever deleted: a pattern's wildcard can match other
// indices (web_log-* matches web_log-archive-2020), so a name is parsed, not
// matched.
//
// Several transfer instances may run it at once: an index another instance
// deleted first is skipped.
type Retention struct {
	es       *Elastic
	days     int
	patterns []datedPattern
	deleted  prometheus.Counter
	log      *slog.Logger
	now      func() time.Time
	// probing is set once the engine was found unable to list indices, so
	// the fallback is logged once.
	probing bool
}

// NewRetention prepares retention for cfg's topics. cfg.RetentionDays must
// be positive and cfg.Index must contain {date} (conf validates both).
func NewRetention(cfg *conf.Transfer, es *Elastic, m *Metrics, log *slog.Logger) (*Retention, error) {
	if cfg.RetentionDays < 1 {
		return nil, fmt.Errorf("retention_days: %d turns retention off", cfg.RetentionDays)
	}
	r := &Retention{es: es, days: cfg.RetentionDays, deleted: m.IndicesDeleted, log: log, now: time.Now}
	for _, topic := range cfg.Topics {
		p, err := newDatedPattern(cfg.IndexName(topic, "{date}"))
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		// A pattern without {topic} is shared by all topics: sweep it once.
		if !slices.ContainsFunc(r.patterns, func(q datedPattern) bool { return q.pattern == p.pattern }) {
			r.patterns = append(r.patterns, p)
		}
	}
	return r, nil
}

// Run sweeps at once and then every hour until ctx is done. Failures are
// logged and tried again at the next sweep.
func (r *Retention) Run(ctx context.Context) {
	wildcards := make([]string, len(r.patterns))
	for i, p := range r.patterns {
		wildcards[i] = p.wildcard
	}
	r.log.Info("index retention on", "retention_days", r.days, "indices", wildcards, "interval", retentionInterval)
	tick := time.NewTicker(retentionInterval)
	defer tick.Stop()
	for {
		if err := r.sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("index retention incomplete; trying again at the next sweep", "error", err, "next", retentionInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep deletes every expired index it finds. One index that cannot be
// listed or deleted does not stop the others.
func (r *Retention) sweep(ctx context.Context) error {
	y, m, d := r.now().UTC().Date()
	// Indices dated before cutoff are expired: with 7 days, today's index and
	// the 7 before it stay.
	cutoff := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -r.days)
	var errs []error
	for _, p := range r.patterns {
		names, err := r.candidates(ctx, p, cutoff)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", p.wildcard, err))
			continue
		}
		for _, name := range names {
			date, ok := p.parse(name)
			if !ok || !date.Before(cutoff) {
				continue
			}
			deleted, err := r.es.deleteIndex(ctx, name)
			if err != nil {
				errs = append(errs, fmt.Errorf("delete index %s: %w", name, err))
				continue
			}
			if !deleted {
				r.log.Debug("expired index already gone (another instance deleted it)", "index", name)
				continue
			}
			r.deleted.Inc()
			r.log.Info("deleted expired index", "index", name, "date", date.Format(indexDateLayout), "retention_days", r.days)
		}
	}
	return errors.Join(errs...)
}

// candidates lists the indices matching p's wildcard. On an engine that
// cannot list, it asks for each of the probeDays names before cutoff instead.
func (r *Retention) candidates(ctx context.Context, p datedPattern, cutoff time.Time) ([]string, error) {
	names, err := r.es.resolveIndices(ctx, p.wildcard)
	if !errors.Is(err, errNoIndexListing) {
		return names, err
	}
	if !r.probing {
		r.probing = true
		r.log.Info("the search engine cannot list indices by pattern (no _resolve/index); checking the days before the cutoff one by one",
			"days", probeDays)
	}
	for i := 1; i <= probeDays; i++ {
		name := p.name(cutoff.AddDate(0, 0, -i))
		ok, err := r.es.indexExists(ctx, name)
		if err != nil {
			return names, err
		}
		if ok {
			names = append(names, name)
		}
	}
	return names, nil
}

// datedPattern is an index pattern for one topic ({topic} expanded) with
// {date} still in it.
type datedPattern struct {
	pattern  string // web_log-{date}
	prefix   string // what comes before the first {date}: web_log-
	wildcard string // {date} as *: web_log-*
}

func newDatedPattern(pattern string) (datedPattern, error) {
	prefix, _, ok := strings.Cut(pattern, "{date}")
	if !ok {
		return datedPattern{}, fmt.Errorf("%q has no {date}: the age of its indices is unknown", pattern)
	}
	return datedPattern{pattern: pattern, prefix: prefix, wildcard: strings.ReplaceAll(pattern, "{date}", "*")}, nil
}

// name is the index of a date.
func (p datedPattern) name(date time.Time) string {
	return strings.ReplaceAll(p.pattern, "{date}", date.Format(indexDateLayout))
}

// parse returns the date of an index whose whole name is the pattern with
// a valid date (the same one wherever {date} appears).
func (p datedPattern) parse(name string) (time.Time, bool) {
	end := len(p.prefix) + len(indexDateLayout)
	if len(name) < end || !strings.HasPrefix(name, p.prefix) {
		return time.Time{}, false
	}
	date, err := time.Parse(indexDateLayout, name[len(p.prefix):end])
	if err != nil || p.name(date) != name {
		return time.Time{}, false
	}
	return date, true
}

// resolveIndices lists the concrete indices (not aliases or data streams)
// matching a wildcard, open or closed, with _resolve/index: the
// Elasticsearch 7.9+ and OpenSearch API for applications (_cat is for
// people). It needs the view_index_metadata privilege on them. An engine
// without it (404) gives errNoIndexListing.
func (e *Elastic) resolveIndices(ctx context.Context, wildcard string) ([]string, error) {
	res, err := e.client.PerformRequest(ctx, elastic.PerformRequestOptions{
		Method: http.MethodGet,
		Path:   "/_resolve/index/" + url.PathEscape(wildcard),
		Params: url.Values{"expand_wildcards": {"all"}},
	})
	if elastic.IsNotFound(err) {
		// A wildcard matching nothing is 200 with no indices; 404 is the
		// endpoint itself missing.
		return nil, errNoIndexListing
	}
	if err != nil {
		return nil, err
	}
	var resp struct {
		Indices []struct {
			Name string `json:"name"`
		} `json:"indices"`
	}
	if err := json.Unmarshal(res.Body, &resp); err != nil {
		return nil, fmt.Errorf("decode _resolve/index answer: %w", err)
	}
	names := make([]string, len(resp.Indices))
	for i, ix := range resp.Indices {
		names[i] = ix.Name
	}
	return names, nil
}

// indexExists asks with HEAD /<name>, which every engine here serves.
func (e *Elastic) indexExists(ctx context.Context, name string) (bool, error) {
	return e.client.IndexExists(name).Do(ctx)
}

// deleteIndex deletes one index by its exact name; deleted is false when it
// did not exist (anymore).
func (e *Elastic) deleteIndex(ctx context.Context, name string) (deleted bool, err error) {
	_, err = e.client.DeleteIndex(name).Do(ctx)
	var ee *elastic.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.Status == http.StatusNotFound && ee.Details != nil && ee.Details.Type == "index_not_found_exception":
		return false, nil
	case errors.As(err, &ee) && ee.Status == http.StatusNotFound:
		// A 404 without Elasticsearch's error body is a missing endpoint.
		return false, fmt.Errorf("the engine has no DELETE /<index>: %w", err)
	}
	return false, err
}
