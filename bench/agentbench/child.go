package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/internal/cli"
)

// childArgs are the flags of the -child modes.
type childArgs struct {
	brokers    *string
	topic      *string
	file       *string
	format     *string
	host       *string
	config     *string
	cpuprofile *string
}

func registerChildFlags() childArgs {
	return childArgs{
		brokers:    flag.String("brokers", "", "internal (-child bare): Kafka brokers, comma-separated"),
		topic:      flag.String("topic", "", "internal (-child bare): topic"),
		file:       flag.String("file", "", "internal (-child bare): the log file whose lines are sent"),
		format:     flag.String("format", "envelope", "internal (-child bare): envelope | raw"),
		host:       flag.String("host", "bench", "internal (-child bare): host id (envelope, event ids, key)"),
		config:     flag.String("config", "", "internal (-child agent): agent.yaml"),
		cpuprofile: flag.String("cpuprofile", "", "internal (-child): write a CPU profile here"),
	}
}

// bareReport is what the bare child prints on stdout when every message is
// acknowledged.
type bareReport struct {
	Messages      int     `json:"messages"`
	AvgValueBytes float64 `json:"avg_value_bytes"`
	SendSeconds   float64 `json:"send_seconds"` // first Input to last success
	SendCPUNanos  int64   `json:"send_cpu_ns"`  // getrusage(SELF) over the same span
	Errors        int64   `json:"errors"`       // messages returned on Errors() (and re-sent)
}

// runBareChild sends the file's lines, as the agent's envelopes (or raw),
// pre-built in memory, through an AsyncProducer configured like the agent's,
// and waits for every success. Then it prints its report and waits for stdin
// to close, so the parent can sample its CPU while it is still alive.
func runBareChild(a childArgs) error {
	lines, err := readLines(*a.file)
	if err != nil {
		return err
	}
	n := len(lines)
	if n == 0 {
		return errors.New("no lines")
	}
	values, ids := agent.EncodeEnvelopes(*a.host, "bench-origin", *a.file, time.Now(), lines)
	format := []byte("envelope")
	switch *a.format {
	case "envelope":
	case "raw":
		values, format = lines, []byte("raw")
	default:
		return fmt.Errorf("-format: %q is not envelope or raw", *a.format)
	}

	// The agent's producer settings: conf defaults through conf.Kafka.Sarama,
	// then what agent.NewShipper sets on top.
	ac := conf.Agent{HostID: *a.host, Kafka: conf.Kafka{Brokers: strings.Split(*a.brokers, ",")}}
	if err := ac.SetDefaultsAndValidate(); err != nil {
		return err
	}
	sc, err := ac.Kafka.Sarama()
	if err != nil {
		return err
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner

	key := sarama.ByteEncoder(*a.host + *a.file) // the agent's key: host + path
	headerEventID, headerFormat := []byte("event.id"), []byte("format")
	msgs := make([]sarama.ProducerMessage, n)
	headers := make([]sarama.RecordHeader, 2*n)
	var valueBytes int
	for i := range msgs {
		h := headers[2*i : 2*i+2 : 2*i+2]
		h[0] = sarama.RecordHeader{Key: headerEventID, Value: ids[i]}
		h[1] = sarama.RecordHeader{Key: headerFormat, Value: format}
		msgs[i] = sarama.ProducerMessage{Topic: *a.topic, Key: key, Value: sarama.ByteEncoder(values[i]), Headers: h}
		valueBytes += len(values[i])
	}
	lines, values, ids = nil, nil, nil

	p, err := sarama.NewAsyncProducer(ac.Kafka.Brokers, sc)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	runtime.GC()
	stopProfile, err := cli.StartCPUProfile(*a.cpuprofile)
	if err != nil {
		return err
	}

	var errCount atomic.Int64
	allAcked := make(chan struct{})
	go func() {
		acked := 0
		for range p.Successes() {
			if acked++; acked == n {
				close(allAcked)
			}
		}
	}()
	go func() {
		for perr := range p.Errors() {
			errCount.Add(1)
			m := perr.Msg
			go func() { p.Input() <- m }() // re-sent, like the agent does
		}
	}()

	cpu0 := benchkit.SelfCPU()
	t0 := time.Now()
	for i := range msgs {
		p.Input() <- &msgs[i]
	}
	<-allAcked
	elapsed := time.Since(t0)
	cpu := benchkit.SelfCPU() - cpu0
	stopProfile()

	rep := bareReport{Messages: n, AvgValueBytes: float64(valueBytes) / float64(n), SendSeconds: elapsed.Seconds(),
		SendCPUNanos: cpu.Nanoseconds(), Errors: errCount.Load()}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	return p.Close()
}
