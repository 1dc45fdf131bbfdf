package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
	"github.com/logagent/logagent/wire"
)

// childArgs are the flags of the -child modes.
type childArgs struct {
	brokers    *string
	topic      *string
	file       *string
	format     *string
	host       *string
	cpuprofile *string
}

func registerChildFlags() childArgs {
	return childArgs{
		brokers:    flag.String("brokers", "", "internal (-child): Kafka brokers, comma-separated"),
		topic:      flag.String("topic", "", "internal (-child): topic"),
		file:       flag.String("file", "", "internal (-child): the log file whose lines are sent"),
		format:     flag.String("format", "raw", "internal (-child): raw | envelope"),
		host:       flag.String("host", hostID, "internal (-child): host id (envelope, event ids, key)"),
		cpuprofile: flag.String("cpuprofile", "", "internal (-child): write a CPU profile here"),
	}
}

// bareReport is what a bare child prints on stdout as it exits.
type bareReport struct {
	Errors int64 `json:"errors"` // messages returned on Errors()
}

// The two bare shippers, the limits the agent is compared with. Both use the
// agent's producer settings (conf.Kafka.Sarama defaults, hash partitioner,
// key host+path, the agent's headers) and read the file as a shipper does,
// line by line.
const (
	// forget sends and never looks back: Return.Successes off, not
	// idempotent, five requests in flight per broker. Not at-least-once.
	forget = "forget"
	// ceiling is the at-least-once limit of a sarama shipper: idempotent,
	// one request in flight per broker, every success read (where a shipper
	// would move its offsets), a failed message sent again.
	ceiling = "ceiling"
)

// chunkLines is how many lines a bare child reads, encodes and sends at a
// time: enough to amortise the per-call work of the envelope encoder.
const chunkLines = 512

// runBareChild ships the file as mode says, then waits for stdin to close
// (the parent closes it once the broker holds every line) and closes the
// producer. The parent measures CPU and throughput from the outside.
func runBareChild(mode string, a childArgs) error {
	if *a.format != "raw" && *a.format != "envelope" {
		return fmt.Errorf("-format: %q is not raw or envelope", *a.format)
	}
	ac := conf.Agent{HostID: *a.host, Kafka: conf.Kafka{Brokers: strings.Split(*a.brokers, ",")}}
	if err := ac.SetDefaultsAndValidate(); err != nil {
		return err
	}
	sc, err := ac.Kafka.Sarama()
	if err != nil {
		return err
	}
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	sc.Producer.Return.Errors = true
	sc.Producer.Return.Successes = mode == ceiling
	if mode == forget {
		sc.Producer.Idempotent = false
		sc.Net.MaxOpenRequests = 5
	}
	p, err := sarama.NewAsyncProducer(ac.Kafka.Brokers, sc)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	stopProfile, err := cli.StartCPUProfile(*a.cpuprofile)
	if err != nil {
		return err
	}

	var errCount atomic.Int64
	var drained sync.WaitGroup
	drained.Add(2)
	go func() { // an at-least-once shipper's ack loop
		defer drained.Done()
		for range p.Successes() {
		}
	}()
	go func() {
		defer drained.Done()
		for perr := range p.Errors() {
			errCount.Add(1)
			if mode == ceiling {
				m := perr.Msg
				go func() { p.Input() <- m }() // again, as the agent does
			}
		}
	}()

	if err := sendFile(p, a, mode); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	stopProfile()
	if err := p.Close(); err != nil {
		return err
	}
	drained.Wait()
	return json.NewEncoder(os.Stdout).Encode(bareReport{Errors: errCount.Load()})
}

// sendFile reads the file chunk by chunk and sends every line, raw or in
// the agent's envelope.
func sendFile(p sarama.AsyncProducer, a childArgs, mode string) error {
	f, err := os.Open(*a.file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	// One key and per-chunk value slices, so that no message boxes its own
	// encoder: as the agent's shipper does.
	var key sarama.Encoder = sarama.ByteEncoder(*a.host + *a.file) // the agent's key: host + path
	headerEventID, headerFormat, headerCreated, format := []byte(wire.HeaderEventID), []byte(wire.HeaderFormat), []byte(wire.HeaderCreated), []byte(*a.format)
	now := time.Now()
	var n int
	for {
		lines, err := readChunk(r)
		if len(lines) > 0 {
			values, ids := lines, lineIDs(n, len(lines))
			if *a.format == "envelope" {
				values, ids = agent.EncodeEnvelopes(*a.host, "bench-origin", *a.file, now, lines)
			}
			msgs := make([]sarama.ProducerMessage, len(lines))
			encoders := make([]sarama.ByteEncoder, len(lines))
			headers := make([]sarama.RecordHeader, 3*len(lines))
			created := strconv.AppendInt(nil, time.Now().UnixMilli(), 10) // the chunk's read time
			for i := range msgs {
				h := headers[3*i : 3*i+3 : 3*i+3]
				h[0] = sarama.RecordHeader{Key: headerEventID, Value: ids[i]}
				h[1] = sarama.RecordHeader{Key: headerFormat, Value: format}
				h[2] = sarama.RecordHeader{Key: headerCreated, Value: created}
				encoders[i] = values[i]
				msgs[i] = sarama.ProducerMessage{Topic: *a.topic, Key: key, Value: &encoders[i], Headers: h}
				p.Input() <- &msgs[i]
			}
			n += len(lines)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readChunk reads up to chunkLines lines (without their newlines) into one
// fresh buffer, which the messages keep until sarama is done with them.
func readChunk(r *bufio.Reader) ([][]byte, error) {
	buf := make([]byte, 0, 256*chunkLines)
	ends := make([]int, 0, chunkLines)
	for len(ends) < chunkLines {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			buf = append(buf, line[:len(line)-1]...)
			ends = append(ends, len(buf))
		} else if len(line) > 0 {
			return nil, fmt.Errorf("line %d of the chunk has no newline", len(ends)+1)
		}
		if err != nil {
			return cut(buf, ends), err
		}
	}
	return cut(buf, ends), nil
}

// lineIDs stands in for the event ids of raw lines (the agent sends one in
// every format): 32 hex digits, as cheap as they come.
func lineIDs(first, n int) [][]byte {
	arena := make([]byte, 0, 32*n)
	ids := make([][]byte, n)
	for i := range ids {
		start := len(arena)
		var n [16]byte
		binary.BigEndian.PutUint64(n[8:], uint64(first+i))
		arena = hex.AppendEncode(arena, n[:])
		ids[i] = arena[start:len(arena):len(arena)]
	}
	return ids
}

func cut(buf []byte, ends []int) [][]byte {
	lines := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		lines[i] = buf[start:end:end]
		start = end
	}
	return lines
}
