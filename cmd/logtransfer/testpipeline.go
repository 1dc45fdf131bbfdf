package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/transfer"
	"github.com/logagent/logagent/wire"
)

// testPipeline is "logtransfer test-pipeline -topic T < lines": each line
// of stdin goes through the topic's parse mode and pipeline as if the agent
// had shipped it, and the document that would be indexed (or why it would
// not) is printed. Nothing is read from Kafka or written anywhere.
func testPipeline(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("logtransfer test-pipeline", flag.ContinueOnError)
	cfgPath := fs.String("config", "/etc/logagent/transfer.yaml", "transfer.yaml whose pipelines to use")
	topic := fs.String("topic", "", "the topic whose pipeline runs (required)")
	raw := fs.Bool("raw", false, "the lines were shipped with format: raw (default: in the agent's envelope)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return errors.New("test-pipeline: -topic is required")
	}
	cfg, err := conf.LoadTransfer(*cfgPath)
	if err != nil {
		return err
	}
	if !slices.Contains(cfg.Topics, *topic) {
		return fmt.Errorf("test-pipeline: topic %q is not in topics %v of %s", *topic, cfg.Topics, *cfgPath)
	}
	conv, err := transfer.NewConverter(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var offset int64
	for sc.Scan() {
		msg := sampleMessage(*topic, sc.Bytes(), offset, *raw)
		offset += int64(len(sc.Bytes())) + 1
		d := conv.Document(msg)
		out := map[string]any{"_index": d.Index, "_id": d.ID}
		switch {
		case d.Pipeline.Dropped != "":
			out = map[string]any{"dropped_by": d.Pipeline.Dropped, "line": sc.Text()}
		default:
			out["_source"] = json.RawMessage(d.Source)
			if d.Pipeline.Failed != "" {
				out["failed_step"] = d.Pipeline.Failed
			}
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return sc.Err()
}

// sampleMessage is line as a Kafka message the agent would have produced:
// an envelope (or the raw line) with its id and format headers.
func sampleMessage(topic string, line []byte, offset int64, raw bool) *sarama.ConsumerMessage {
	now := time.Now()
	id := fmt.Sprintf("test-pipeline-%d", offset)
	format, value := wire.FormatRaw, append([]byte(nil), line...)
	if !raw {
		format = wire.FormatEnvelope
		value, _ = json.Marshal(map[string]any{
			wire.FieldTimestamp: now.UTC().Format(wire.TimeLayout),
			wire.FieldMessage:   string(line),
			wire.FieldHost:      map[string]any{"name": "test-pipeline"},
			wire.FieldLog:       map[string]any{"file": map[string]any{"path": "stdin"}, "offset": offset},
			wire.FieldEvent:     map[string]any{"id": id},
		})
	}
	return &sarama.ConsumerMessage{Topic: topic, Value: value, Timestamp: now, Offset: offset,
		Headers: []*sarama.RecordHeader{{Key: []byte(wire.HeaderEventID), Value: []byte(id)}, {Key: []byte(wire.HeaderFormat), Value: []byte(format)}}}
}

// runTestPipeline runs test-pipeline and exits: 0 when every line went
// through, 1 on an error (the config, the input), 2 on a usage error.
func runTestPipeline(args []string) {
	err := testPipeline(args, os.Stdin, os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "logtransfer:", err)
		os.Exit(1)
	}
}
