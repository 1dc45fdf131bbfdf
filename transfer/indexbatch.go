package transfer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/logagent/logagent/internal/backoff"
)

// DeadLetter is a document the engine refused, with why.
type DeadLetter struct {
	Doc Doc
	// Type and Reason are the engine's error ("mapper_parsing_exception", …)
	// or the transfer's own ("missing_from_bulk_response").
	Type, Reason string
}

// DeadLetterWriter stores dead letters durably. Write returns nil only when
// every letter is stored; after an error some may have been stored and the
// caller writes them all again (the DLQ is at-least-once too).
type DeadLetterWriter interface {
	Write(ctx context.Context, letters []DeadLetter) error
}

// MissingReason is the error.reason of a document dead-lettered because the
// engine kept leaving it out of its answers.
const MissingReason = "missing from bulk response"

// Policy tunes IndexBatch. The zero value uses the defaults.
type Policy struct {
	// InitialBackoff is the first wait after a failure; it doubles per
	// attempt, jittered. Default 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait; default 30s.
	MaxBackoff time.Duration
	// MissingAttempts is how many times a document sent alone may go missing
	// from the answer before it is dead-lettered; default 3.
	MissingAttempts int
	// ProbeInterval paces the probes of an engine that left a bulk
	// unanswered: each wait is between half and all of it; default 2s.
	ProbeInterval time.Duration
}

// Stats counts what one IndexBatch call did, for metrics.
type Stats struct {
	Indexed      int // documents the engine stored
	DeadLettered int // documents written to the DLQ
	Requests     int // bulk requests sent
	Retries      int // documents sent again (retryable or missing)
}

// IndexBatch indexes docs with the default Policy; see Policy.IndexBatch.
func IndexBatch(ctx context.Context, idx Indexer, dlq DeadLetterWriter, docs []Doc, log *slog.Logger) error {
	_, err := Policy{}.IndexBatch(ctx, idx, dlq, docs, log)
	return err
}

// group is documents sent together, and how many failed attempts led to it.
type group struct {
	docs    []int // positions in the batch
	attempt int   // > 0: wait backoff(attempt) before sending
	probe   bool  // the engine did not answer: wait until it answers a probe
}

// IndexBatch returns nil only when every doc is indexed or written to the
// DLQ, so the caller may then mark and commit the batch's offsets; it
// returns an error only when ctx ends first (commit nothing).
//
//   - Whole-request failures (connection errors, 429, 5xx, auth) are retried
//     with exponential backoff and jitter, forever; a 413 splits the request.
//     When the engine did not answer at all, the retry also waits until it
//     answers a probe (every ProbeInterval), so a down engine gets probes,
//     not bulks, and the batch goes out soon after it returns rather than
//     after a backoff grown for as long as it was away.
//   - Per item: document-level errors are dead-lettered, retryable ones
//     (429, 5xx, blocked or closed index) are sent again after a backoff.
//   - Items missing from an answer are sent again. A group that comes back
//     with no answer at all is split in halves until the document that makes
//     the engine stop is alone; sent alone and missing MissingAttempts times,
//     it is dead-lettered with reason MissingReason.
//   - Dead letters are written once everything else is settled, retried until
//     the writer succeeds.
func (p Policy) IndexBatch(ctx context.Context, idx Indexer, dlq DeadLetterWriter, docs []Doc, log *slog.Logger) (Stats, error) {
	p = p.withDefaults()
	var st Stats
	if len(docs) == 0 {
		return st, nil
	}
	missing := make([]int, len(docs)) // times each doc went missing while alone
	var dead []DeadLetter
	all := make([]int, len(docs))
	for i := range all {
		all[i] = i
	}
	queue := []group{{docs: all}}
	var send []Doc

	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if err := p.pause(ctx, idx, g, log); err != nil {
			return st, fmt.Errorf("index batch of %d: %w", len(docs), err)
		}
		send = send[:0]
		for _, i := range g.docs {
			send = append(send, docs[i])
		}
		st.Requests++
		items, err := idx.Bulk(ctx, send)
		if err != nil {
			failure, operator := ClassifyRequestError(err)
			switch {
			case failure == Stopped || ctx.Err() != nil:
				return st, fmt.Errorf("index batch of %d: %w", len(docs), err)
			case failure == SplitRequest && len(g.docs) > 1:
				h := len(g.docs) / 2
				queue = append([]group{{docs: g.docs[:h]}, {docs: g.docs[h:]}}, queue...)
			case failure == SplitRequest:
				dead = append(dead, DeadLetter{Doc: docs[g.docs[0]], Type: "request_entity_too_large",
					Reason: fmt.Sprintf("document of %d bytes is larger than the engine accepts: %v", len(docs[g.docs[0]].Source), err)})
			default:
				level := slog.LevelWarn
				if operator {
					level = slog.LevelError // still retried: an operator can fix it without losing data
				}
				log.Log(ctx, level, "bulk request failed; retrying", "docs", len(g.docs),
					"attempt", g.attempt+1, "needs_operator", operator, "error", err)
				st.Retries += len(g.docs)
				queue = append([]group{{docs: g.docs, attempt: g.attempt + 1, probe: failure == WaitForEngine}}, queue...)
			}
			continue
		}

		var retry []int
		answered := 0
		for ; answered < len(items) && answered < len(g.docs); answered++ {
			it, i := items[answered], g.docs[answered]
			switch ClassifyItem(it) {
			case OutcomeIndexed:
				st.Indexed++
				continue
			case OutcomeDeadLetter:
				dead = append(dead, DeadLetter{Doc: docs[i], Type: it.Type, Reason: itemReason(it)})
				continue
			case OutcomeRetry:
				retry = append(retry, i)
				continue
			}
			break // Missing: this and the rest were not answered
		}
		var next []group
		rest := g.docs[answered:]
		switch {
		case len(rest) == 0:
		case answered > 0:
			// Progress: send the rest at once; whatever stopped the engine is
			// now first and the next answer tells about it.
			next = append(next, group{docs: rest})
		case len(rest) > 1:
			h := len(rest) / 2
			next = append(next, group{docs: rest[:h]}, group{docs: rest[h:]})
		default: // a single document without an answer
			i := rest[0]
			missing[i]++
			reason := MissingReason
			if len(items) > 0 && items[0].Reason != "" {
				reason += ": " + items[0].Reason
			}
			if missing[i] >= p.MissingAttempts {
				log.Error("document keeps going missing from bulk responses; dead-lettering it",
					"id", docs[i].ID, "index", docs[i].Index, "topic", docs[i].Meta.Topic,
					"partition", docs[i].Meta.Partition, "offset", docs[i].Meta.Offset, "attempts", missing[i])
				dead = append(dead, DeadLetter{Doc: docs[i], Type: "missing_from_bulk_response", Reason: reason})
			} else {
				next = append(next, group{docs: rest, attempt: missing[i]})
			}
		}
		if len(rest) > 0 && len(next) > 0 {
			st.Retries += len(rest)
		}
		if len(retry) > 0 {
			log.Warn("engine asked to retry documents", "docs", len(retry), "attempt", g.attempt+1,
				"first_error", firstRetryError(items, g.docs, retry))
			st.Retries += len(retry)
			next = append(next, group{docs: retry, attempt: g.attempt + 1})
		}
		queue = append(next, queue...)
	}

	if len(dead) == 0 {
		return st, nil
	}
	for attempt := 1; ; attempt++ {
		err := dlq.Write(ctx, dead)
		if err == nil {
			st.DeadLettered = len(dead)
			log.Warn("documents dead-lettered", "docs", len(dead), "first_type", dead[0].Type, "first_reason", dead[0].Reason)
			return st, nil
		}
		if ctx.Err() != nil {
			return st, fmt.Errorf("write %d dead letters: %w", len(dead), ctx.Err())
		}
		log.Error("dead-letter write failed; retrying (offsets stay uncommitted)", "docs", len(dead), "attempt", attempt, "error", err)
		if err := backoff.Sleep(ctx, p.backoff(attempt)); err != nil {
			return st, fmt.Errorf("write %d dead letters: %w", len(dead), err)
		}
	}
}

// pause waits before a group is sent again: its backoff, then, if the
// engine left it unanswered, until the engine answers a probe.
func (p Policy) pause(ctx context.Context, idx Indexer, g group, log *slog.Logger) error {
	if g.attempt == 0 {
		return nil
	}
	if err := backoff.Sleep(ctx, p.backoff(g.attempt)); err != nil {
		return err
	}
	if !g.probe {
		return nil
	}
	return p.waitForEngine(ctx, idx, log)
}

// waitForEngine probes the engine until it answers. The backoff before it
// keeps growing only while bulks fail after a probe answered.
func (p Policy) waitForEngine(ctx context.Context, idx Indexer, log *slog.Logger) error {
	since := time.Now()
	for probes := 1; ; probes++ {
		err := idx.Probe(ctx)
		switch {
		case err == nil && probes > 1:
			log.Info("search engine answers again; sending", "waited", time.Since(since).Round(time.Millisecond), "probes", probes)
			return nil
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case probes == 1:
			log.Warn("search engine not answering; probing it until it does", "interval", p.ProbeInterval, "error", err)
		}
		if err := backoff.Sleep(ctx, backoff.Delay(1, p.ProbeInterval, p.ProbeInterval)); err != nil {
			return err
		}
	}
}

func (p Policy) withDefaults() Policy {
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 100 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	p.MaxBackoff = max(p.MaxBackoff, p.InitialBackoff)
	if p.MissingAttempts <= 0 {
		p.MissingAttempts = 3
	}
	if p.ProbeInterval <= 0 {
		p.ProbeInterval = 2 * time.Second
	}
	return p
}

// backoff is exponential from InitialBackoff, capped, with "equal jitter":
// between half and all of the step, so many partitions retrying at once
// spread out without ever retrying immediately.
func (p Policy) backoff(attempt int) time.Duration {
	return backoff.Delay(attempt, p.InitialBackoff, p.MaxBackoff)
}

func itemReason(it ItemResult) string {
	if it.Reason != "" {
		return it.Reason
	}
	return fmt.Sprintf("HTTP %d %s", it.Status, http.StatusText(it.Status))
}

func firstRetryError(items []ItemResult, sent, retry []int) string {
	for k, i := range sent {
		if i == retry[0] && k < len(items) {
			return fmt.Sprintf("%d %s: %s", items[k].Status, items[k].Type, items[k].Reason)
		}
	}
	return ""
}
