package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/wire"
)

// TailOptions say what logctl tail follows.
type TailOptions struct {
	Kafka conf.Kafka
	Topic string
	// Host and Path keep only the lines of that host and those files: a
	// glob, with a "/" matched against the whole path ("/var/log/**/*.log"),
	// without one against the base name ("*.log"); Grep (RE2) only the lines whose message matches.
	Host, Path string
	Grep       *regexp.Regexp
	// Start: the end (default: only what arrives from now on), the oldest
	// offsets (FromBeginning), or the first offset at or after Since ago.
	FromBeginning bool
	Since         time.Duration
	// Limit stops after this many lines (0: until ctx is done).
	Limit int
	// JSON writes each envelope (raw lines as {"message", "host", "log"})
	// on its own line instead of "host path: message".
	JSON bool
}

// tailLine is one shipped line as tail sees it.
type tailLine struct {
	Host, Path, Message string
	Envelope            json.RawMessage // nil for a raw line
}

// Tail follows what the agents ship to a topic, live, with no consumer
// group and nothing committed, until ctx is done or Limit lines were
// written.
func Tail(ctx context.Context, opt TailOptions, w io.Writer) error {
	if opt.Topic == "" {
		return errors.New("tail: no topic given")
	}
	if opt.Path != "" {
		if err := conf.ValidateGlob(opt.Path); err != nil {
			return fmt.Errorf("--path: %w", err)
		}
	}
	cfg, err := saramaConfig(opt.Kafka)
	if err != nil {
		return err
	}
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond // live: new lines show within it
	client, err := sarama.NewClient(opt.Kafka.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to kafka %v: %w", opt.Kafka.Brokers, err)
	}
	defer client.Close()
	if err := requireTopics(client, opt.Topic); err != nil {
		return err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	parts, err := client.Partitions(opt.Topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", opt.Topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	lines := make(chan *sarama.ConsumerMessage)
	var readers sync.WaitGroup
	defer func() { // the readers end with ctx
		cancel()
		readers.Wait()
	}()
	for _, p := range parts {
		start, err := startOffset(client, opt, p)
		if err != nil {
			return err
		}
		pc, err := consumer.ConsumePartition(opt.Topic, p, start)
		if err != nil {
			return fmt.Errorf("consume %s/%d: %w", opt.Topic, p, err)
		}
		readers.Go(func() { forwardPartition(ctx, pc, lines) })
	}
	written := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-lines:
			l := lineOf(m)
			if !opt.keeps(l) {
				continue
			}
			if err := writeTailLine(w, l, opt.JSON); err != nil {
				return err
			}
			if written++; opt.Limit > 0 && written >= opt.Limit {
				return nil
			}
		}
	}
}

// forwardPartition sends a partition's messages to lines until ctx is done.
func forwardPartition(ctx context.Context, pc sarama.PartitionConsumer, lines chan<- *sarama.ConsumerMessage) {
	defer pc.AsyncClose()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-pc.Messages():
			if !ok {
				return
			}
			select {
			case lines <- m:
			case <-ctx.Done():
				return
			}
		case <-pc.Errors(): // sarama retries by itself; nothing to stop for
		}
	}
}

// startOffset is where tail starts reading partition p.
func startOffset(client sarama.Client, opt TailOptions, p int32) (int64, error) {
	switch {
	case opt.FromBeginning:
		return sarama.OffsetOldest, nil
	case opt.Since > 0:
		off, err := client.GetOffset(opt.Topic, p, time.Now().Add(-opt.Since).UnixMilli())
		if err != nil {
			return 0, fmt.Errorf("offset of %s/%d %v ago: %w", opt.Topic, p, opt.Since, err)
		}
		if off < 0 { // nothing that recent: from the end
			return sarama.OffsetNewest, nil
		}
		return off, nil
	}
	return sarama.OffsetNewest, nil
}

// lineOf reads a message as the agent wrote it: an envelope (host.name,
// log.file.path, message) or a raw line, whose key is host id + path.
func lineOf(m *sarama.ConsumerMessage) tailLine {
	raw := false
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == wire.HeaderFormat {
			raw = string(h.Value) == wire.FormatRaw
		}
	}
	if !raw {
		var env struct {
			Message string `json:"message"`
			Host    struct {
				Name string `json:"name"`
			} `json:"host"`
			Log struct {
				File struct {
					Path string `json:"path"`
				} `json:"file"`
			} `json:"log"`
		}
		if json.Unmarshal(m.Value, &env) == nil {
			return tailLine{Host: env.Host.Name, Path: env.Log.File.Path, Message: env.Message, Envelope: m.Value}
		}
	}
	// The agent's key is host id + path; the path begins at the first "/".
	key := string(m.Key)
	host, path := key, ""
	if i := strings.IndexByte(key, '/'); i >= 0 {
		host, path = key[:i], key[i:]
	}
	return tailLine{Host: host, Path: path, Message: string(m.Value)}
}

// matchPath matches a --path glob as collect excludes are matched: with a
// "/" against the whole path ("**" for any directories), without one against
// the base name.
func matchPath(pattern, path string) bool {
	if !strings.Contains(pattern, "/") {
		ok, _ := filepath.Match(pattern, filepath.Base(path))
		return ok
	}
	return conf.MatchGlob(pattern, path)
}

// keeps reports whether l passes the options' filters.
func (opt TailOptions) keeps(l tailLine) bool {
	if opt.Host != "" && l.Host != opt.Host {
		return false
	}
	if opt.Path != "" && !matchPath(opt.Path, l.Path) {
		return false
	}
	return opt.Grep == nil || opt.Grep.MatchString(l.Message)
}

func writeTailLine(w io.Writer, l tailLine, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintf(w, "%s %s: %s\n", l.Host, l.Path, escapeLine([]byte(l.Message), 0))
		return err
	}
	out := l.Envelope
	if out == nil {
		out, _ = json.Marshal(map[string]any{
			wire.FieldMessage: l.Message,
			wire.FieldHost:    map[string]string{"name": l.Host},
			wire.FieldLog:     map[string]any{"file": map[string]string{"path": l.Path}},
		})
	}
	_, err := fmt.Fprintf(w, "%s\n", out)
	return err
}
