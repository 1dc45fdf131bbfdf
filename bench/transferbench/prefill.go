package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/logagent/logagent/agent"
	"github.com/logagent/logagent/conf"
)

// Pieces of the generated nginx "combined" lines (as in bench/agentbench).
var (
	genMethods = []string{"GET", "GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD"}
	genPaths   = []string{
		"/", "/index.html", "/api/v1/items", "/api/v1/orders", "/api/v2/users/profile",
		"/static/js/app.bundle.js", "/static/css/site.min.css", "/images/products/thumb.jpg",
		"/search", "/checkout/cart", "/account/login", "/health",
	}
	genStatus    = []int{200, 200, 200, 200, 200, 200, 301, 302, 304, 400, 403, 404, 500, 503}
	genReferrers = []string{
		"-", "https://www.example.com/", "https://www.example.com/search?q=shoes",
		"https://shop.example.org/cart", "https://news.example.net/article/2026/11/best-deals",
	}
	genAgents = []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"curl/8.10.1",
		"Go-http-client/1.1",
	}
	genMonths = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

const genLetters = "abcdefghijklmnopqrstuvwxyz0123456789"

// genLine appends one nginx-like line (no newline) of about 200 bytes.
func genLine(dst []byte, r *rand.Rand, i int) []byte {
	target := 172 + r.IntN(31)
	ip := [4]int{10 + r.IntN(200), r.IntN(256), r.IntN(256), 1 + r.IntN(254)}
	sec := i / 50 // ~50 lines per second of log time
	day := 1 + (sec/86400)%28
	head := fmt.Appendf(nil, "%d.%d.%d.%d - - [%02d/%s/2026:%02d:%02d:%02d +0000] \"%s %s?id=%d&q=",
		ip[0], ip[1], ip[2], ip[3], day, genMonths[10], (sec/3600)%24, (sec/60)%60, sec%60,
		genMethods[r.IntN(len(genMethods))], genPaths[r.IntN(len(genPaths))], r.IntN(100000))
	tail := fmt.Appendf(nil, " HTTP/1.1\" %d %d \"%s\" \"%s\"",
		genStatus[r.IntN(len(genStatus))], r.IntN(50000), genReferrers[r.IntN(len(genReferrers))], genAgents[r.IntN(len(genAgents))])
	pad := max(1, target-len(head)-len(tail))
	dst = append(dst, head...)
	for range pad {
		dst = append(dst, genLetters[r.IntN(len(genLetters))])
	}
	return append(dst, tail...)
}

// logFile is one simulated log file: its path is the agent's origin and,
// with the host id, the message key that picks the partition.
type logFile struct {
	path      string
	partition int32
	lines     int
}

// pickFiles chooses perPartition file paths for each partition, so that the
// hash partitioner (the agent's: key host+path) spreads the files evenly,
// and splits n lines over them as evenly as possible.
func pickFiles(topic string, partitions, perPartition, n int) ([]logFile, error) {
	hp := sarama.NewHashPartitioner(topic)
	taken := make([]int, partitions)
	var files []logFile
	for i := 0; len(files) < partitions*perPartition; i++ {
		if i > 10000 {
			return nil, fmt.Errorf("could not spread %d files over %d partitions", partitions*perPartition, partitions)
		}
		path := fmt.Sprintf("/var/log/nginx/site%02d/access.log", i)
		part, err := hp.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(hostID + path)}, int32(partitions))
		if err != nil {
			return nil, err
		}
		if taken[part] < perPartition {
			taken[part]++
			files = append(files, logFile{path: path, partition: part})
		}
	}
	for i := range files {
		files[i].lines = n / len(files)
		if i < n%len(files) {
			files[i].lines++
		}
	}
	return files, nil
}

// prefillStats is what the pre-fill produced.
type prefillStats struct {
	messages     int
	valueBytes   int64
	lineBytes    int64
	perPartition []int64
	seconds      float64
	sampleIDs    []string // early event ids of each file
}

// prefill sends every file's lines as the agent's envelopes (built with the
// agent's own encoder: same value, event ids, key and headers) through a
// sarama AsyncProducer with the project's Kafka defaults (snappy, acks all,
// idempotent), waits for every ack and checks the partitions' high
// watermarks.
func prefill(ctx context.Context, brokers []string, topic string, partitions int, files []logFile, stamp time.Time) (prefillStats, error) {
	st := prefillStats{perPartition: make([]int64, partitions)}
	r := rand.New(rand.NewPCG(20261101, 42))
	headerEventID, headerFormat, format := []byte("event.id"), []byte("format"), []byte("envelope")
	lineNo := 0
	perFile := make([][]*sarama.ProducerMessage, len(files))
	for fi, f := range files {
		lines := make([][]byte, f.lines)
		for i := range lines {
			lines[i] = genLine(nil, r, lineNo)
			lineNo++
			st.lineBytes += int64(len(lines[i]))
		}
		values, ids := agent.EncodeEnvelopes(hostID, f.path, f.path, stamp, lines)
		if len(ids) > 0 {
			// Early documents: searchable soon after the runs' first bulks.
			for _, i := range []int{0, len(ids) / 100, len(ids) / 20} {
				st.sampleIDs = append(st.sampleIDs, string(ids[i]))
			}
		}
		key := sarama.ByteEncoder(hostID + f.path)
		for i := range values {
			perFile[fi] = append(perFile[fi], &sarama.ProducerMessage{Topic: topic, Key: key, Value: sarama.ByteEncoder(values[i]),
				Headers: []sarama.RecordHeader{{Key: headerEventID, Value: ids[i]}, {Key: headerFormat, Value: format}}})
			st.valueBytes += int64(len(values[i]))
		}
		st.perPartition[f.partition] += int64(f.lines)
	}
	// The files are written at the same time, as an agent tailing them
	// would send them: interleaved in runs of 100 lines.
	var msgs []*sarama.ProducerMessage
	for left := true; left; {
		left = false
		for fi := range perFile {
			k := min(100, len(perFile[fi]))
			msgs = append(msgs, perFile[fi][:k]...)
			perFile[fi] = perFile[fi][k:]
			left = left || len(perFile[fi]) > 0
		}
	}
	st.messages = len(msgs)

	tc := conf.Transfer{Kafka: conf.Kafka{Brokers: brokers, ClientID: "transferbench-prefill"}}
	if err := tc.SetDefaultsAndValidate(); err != nil {
		return st, err
	}
	sc, err := tc.Kafka.Sarama()
	if err != nil {
		return st, err
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	p, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		return st, fmt.Errorf("producer: %w", err)
	}
	defer p.Close()
	var errs atomic.Int64
	allAcked := make(chan struct{})
	go func() {
		acked := 0
		for range p.Successes() {
			if acked++; acked == len(msgs) {
				close(allAcked)
			}
		}
	}()
	go func() {
		for perr := range p.Errors() {
			if errs.Add(1) > 1000 {
				continue // give up re-sending: the wait below times out
			}
			m := perr.Msg
			go func() { p.Input() <- m }()
		}
	}()
	t0 := time.Now()
	go func() {
		for _, m := range msgs {
			select {
			case p.Input() <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-allAcked:
	case <-ctx.Done():
		return st, fmt.Errorf("pre-fill: %w (%d send errors)", ctx.Err(), errs.Load())
	case <-time.After(2 * time.Minute):
		return st, fmt.Errorf("pre-fill: not every message acknowledged within 2m (%d send errors)", errs.Load())
	}
	st.seconds = time.Since(t0).Seconds()
	if n := errs.Load(); n > 0 {
		logf("pre-fill: %d messages were re-sent after errors", n)
	}

	// Exactly the expected number in each partition (an idempotent producer
	// does not duplicate on re-send).
	hw, err := highWatermarks(brokers, topic)
	if err != nil {
		return st, err
	}
	for part, want := range st.perPartition {
		if hw[int32(part)] != want {
			return st, fmt.Errorf("pre-fill: partition %d holds %d messages, want %d (all: %v)", part, hw[int32(part)], want, hw)
		}
	}
	return st, nil
}

// highWatermarks returns each partition's high watermark.
func highWatermarks(brokers []string, topic string) (map[int32]int64, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "transferbench-counter"
	cl, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	parts, err := cl.Partitions(topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, p := range parts {
		off, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		out[p] = off
	}
	return out, nil
}
