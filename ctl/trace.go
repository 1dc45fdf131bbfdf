package ctl

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logagent/logagent/collect"
	"github.com/logagent/logagent/conf"
	"github.com/logagent/logagent/etcd"
	"github.com/logagent/logagent/wire"
)

// TraceOptions say which line logctl trace follows and where it looks.
type TraceOptions struct {
	// ID is the line's event.id; or Host, Path and Offset (its byte offset
	// in the file) name it.
	ID         string
	Host, Path string
	Offset     int64
	// Transfer is the transfer's config: its Kafka settings, topics, group,
	// index and engine.
	Transfer *conf.Transfer
	// Topic narrows the search to one of the transfer's topics.
	Topic string
	// Etcd reads the agent's status (nil: the file stage is skipped); Prefix
	// is etcd.prefix.
	Etcd   *clientv3.Client
	Prefix string
	// Scan bounds how many of each partition's newest messages are read.
	Scan int
}

// DefaultTraceScan is how many of a partition's newest messages trace reads.
const DefaultTraceScan = 200_000

// TraceReport is what trace found, stage by stage.
type TraceReport struct {
	ID     string      `json:"event_id,omitempty"`
	File   FileStage   `json:"file"`
	Kafka  KafkaStage  `json:"kafka"`
	Search SearchStage `json:"search"`
	// Verdict says where the line stopped and how trace can tell.
	Verdict string `json:"verdict"`
}

// FileStage is the line in its file and the agent's view of the file.
type FileStage struct {
	Host, Path string
	Offset     int64
	// Bytes is the line at Offset, when this machine can read the file.
	Bytes    string `json:"bytes,omitempty"`
	Readable bool   `json:"readable"`
	Size     int64  `json:"size"`
	// AckedOffset is the agent's acknowledged offset of the file from its
	// status; -1 when the status does not list the file.
	AckedOffset int64 `json:"acked_offset"`
}

// KafkaStage is where Kafka holds the line.
type KafkaStage struct {
	Found     bool      `json:"found"`
	Topic     string    `json:"topic,omitempty"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time,omitempty"`
	// Scanned is how many messages were read looking for it.
	Scanned int `json:"scanned"`
	// GroupLag is the transfer group's lag on the partition: its end offset
	// minus its committed offset (-1: unknown).
	GroupLag int64 `json:"group_lag"`
	// Committed reports whether the group's committed offset passed the line.
	Committed bool `json:"committed"`
}

// SearchStage is the line's document in the search engine.
type SearchStage struct {
	Found bool   `json:"found"`
	Index string `json:"index,omitempty"`
	Error string `json:"error,omitempty"`
}

// Trace follows one line from its file through Kafka to the search engine.
func Trace(ctx context.Context, opt TraceOptions) (*TraceReport, error) {
	if opt.Transfer == nil {
		return nil, errors.New("trace: the transfer's config is needed (its Kafka, group and engine)")
	}
	if opt.Scan <= 0 {
		opt.Scan = DefaultTraceScan
	}
	rep := &TraceReport{ID: opt.ID, File: FileStage{Host: opt.Host, Path: opt.Path, Offset: opt.Offset, AckedOffset: -1}}
	if opt.ID != "" {
		off, err := offsetOfID(opt.ID)
		if err != nil {
			return nil, err
		}
		rep.File.Offset = off
	} else if opt.Host == "" || opt.Path == "" {
		return nil, errors.New("trace: give an event id, or --host, --path and --offset")
	}
	if err := traceKafka(ctx, opt, rep); err != nil {
		return nil, err
	}
	if rep.File.Host != "" && opt.Etcd != nil {
		traceStatus(ctx, opt, rep)
	}
	traceFile(rep)
	if rep.ID != "" && rep.Kafka.Found {
		traceSearch(ctx, opt, rep)
	}
	rep.Verdict = verdict(rep)
	return rep, nil
}

// offsetOfID is the file offset an event id carries: its last 16 hex digits.
func offsetOfID(id string) (int64, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return 0, fmt.Errorf("event id %q: want 32 hex digits", id)
	}
	var off int64
	for _, c := range b[8:] {
		off = off<<8 | int64(c)
	}
	return off, nil
}

// traceKafka finds the line's message: by its id header, or by its key
// (host id + path, so its partition is the key's) and its envelope's offset.
func traceKafka(ctx context.Context, opt TraceOptions, rep *TraceReport) error {
	cfg, err := saramaConfig(opt.Transfer.Kafka)
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(opt.Transfer.Kafka.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to kafka %v: %w", opt.Transfer.Kafka.Brokers, err)
	}
	defer client.Close()
	topics := opt.Transfer.Topics
	if opt.Topic != "" {
		topics = []string{opt.Topic}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	rep.Kafka.GroupLag = -1
	for _, topic := range topics {
		parts, err := client.Partitions(topic)
		if err != nil {
			return fmt.Errorf("partitions of %s: %w", topic, err)
		}
		if opt.ID == "" {
			parts = []int32{partitionOf(opt.Host+opt.Path, len(parts))}
		}
		for _, p := range parts {
			m, scanned, err := scanPartition(ctx, client, consumer, topic, p, opt)
			rep.Kafka.Scanned += scanned
			if err != nil {
				return err
			}
			if m == nil {
				continue
			}
			rep.Kafka.Found, rep.Kafka.Topic, rep.Kafka.Partition, rep.Kafka.Offset, rep.Kafka.Time = true, topic, p, m.Offset, m.Timestamp
			l := lineOf(m)
			rep.File.Host, rep.File.Path = l.Host, l.Path
			for _, h := range m.Headers {
				if h != nil && string(h.Key) == wire.HeaderEventID {
					rep.ID = string(h.Value)
				}
			}
			rep.Kafka.GroupLag, rep.Kafka.Committed = groupLag(client, opt.Transfer.GroupID, topic, p, m.Offset)
			return nil
		}
	}
	return nil
}

// partitionOf is the partition the agent's hash partitioner gives a key:
// sarama's FNV-1a, as the agent configures it.
func partitionOf(key string, partitions int) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	p := int32(h.Sum32()) % int32(partitions)
	if p < 0 {
		p = -p
	}
	return p
}

// scanPartition reads the partition's newest opt.Scan messages for the line.
func scanPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic string, p int32, opt TraceOptions) (*sarama.ConsumerMessage, int, error) {
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return nil, 0, err
	}
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return nil, 0, err
	}
	from := max(oldest, end-int64(opt.Scan))
	if from >= end {
		return nil, 0, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, from)
	if err != nil {
		return nil, 0, err
	}
	defer pc.AsyncClose()
	scanned := 0
	for {
		select {
		case <-ctx.Done():
			return nil, scanned, ctx.Err()
		case m := <-pc.Messages():
			scanned++
			if matches(m, opt) {
				return m, scanned, nil
			}
			if m.Offset >= end-1 {
				return nil, scanned, nil
			}
		case err := <-pc.Errors():
			return nil, scanned, err
		}
	}
}

// matches reports whether m is the traced line.
func matches(m *sarama.ConsumerMessage, opt TraceOptions) bool {
	if opt.ID != "" {
		for _, h := range m.Headers {
			if h != nil && string(h.Key) == wire.HeaderEventID {
				return string(h.Value) == opt.ID
			}
		}
		return false
	}
	if string(m.Key) != opt.Host+opt.Path {
		return false
	}
	var env struct {
		Log struct {
			Offset int64 `json:"offset"`
		} `json:"log"`
	}
	return json.Unmarshal(m.Value, &env) == nil && env.Log.Offset == opt.Offset
}

// groupLag is the group's lag on the partition and whether its committed
// offset passed offset; -1 when the group's offsets cannot be read.
func groupLag(client sarama.Client, group, topic string, p int32, offset int64) (int64, bool) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return -1, false
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {p}})
	if err != nil {
		return -1, false
	}
	b := resp.GetBlock(topic, p)
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if b == nil || err != nil {
		return -1, false
	}
	committed := max(b.Offset, 0) // -1: nothing committed yet
	return end - committed, committed > offset
}

// traceStatus reads the agent's acknowledged offset of the file.
func traceStatus(ctx context.Context, opt TraceOptions, rep *TraceReport) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := opt.Etcd.Get(ctx, etcd.StatusKey(opt.Prefix, rep.File.Host))
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	var st collect.Status
	if json.Unmarshal(resp.Kvs[0].Value, &st) != nil {
		return
	}
	for _, f := range st.Files {
		if f.Path == rep.File.Path {
			rep.File.AckedOffset, rep.File.Size = f.Offset, f.Size
		}
	}
}

// traceFile reads the line at the offset, if this machine has the file.
func traceFile(rep *TraceReport) {
	f, err := os.Open(rep.File.Path)
	if err != nil {
		return
	}
	defer f.Close()
	rep.File.Readable = true
	if fi, err := f.Stat(); err == nil {
		rep.File.Size = fi.Size()
	}
	if rep.File.Offset >= rep.File.Size {
		return
	}
	line, err := bufio.NewReader(io.NewSectionReader(f, rep.File.Offset, 1<<20)).ReadString('\n')
	if err == nil || line != "" {
		rep.File.Bytes = strings.TrimSuffix(line, "\n")
	}
}

// traceSearch looks for the document in the topic's indices.
func traceSearch(ctx context.Context, opt TraceOptions, rep *TraceReport) {
	es := opt.Transfer.Elasticsearch
	if len(es.URLs) == 0 {
		rep.Search.Error = "no engine URL in the transfer's config"
		return
	}
	pattern := opt.Transfer.IndexName(rep.Kafka.Topic, "*")
	body := fmt.Sprintf(`{"size":1,"query":{"term":{%q:%q}}}`, wire.FieldEvent+".id", rep.ID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(es.URLs[0], "/")+"/"+pattern+"/_search", strings.NewReader(body))
	if err != nil {
		rep.Search.Error = err.Error()
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if es.Username != "" {
		pw, err := es.Password.Resolve()
		if err != nil {
			rep.Search.Error = err.Error()
			return
		}
		req.SetBasicAuth(es.Username, pw)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if tc, err := es.TLS.Config(); err == nil && tc != nil {
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	resp, err := hc.Do(req)
	if err != nil {
		rep.Search.Error = err.Error()
		return
	}
	defer resp.Body.Close()
	var r struct {
		Hits struct {
			Hits []struct {
				Index string `json:"_index"`
			} `json:"hits"`
		} `json:"hits"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "no index") {
		return // no index yet: not found
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil {
		rep.Search.Error = fmt.Sprintf("search %s: HTTP %d: %.200s", pattern, resp.StatusCode, b)
		return
	}
	if len(r.Hits.Hits) > 0 {
		rep.Search.Found, rep.Search.Index = true, r.Hits.Hits[0].Index
	}
}

// verdict says where the line stopped, and from what.
func verdict(rep *TraceReport) string {
	k, f := rep.Kafka, rep.File
	switch {
	case rep.Search.Found:
		return fmt.Sprintf("indexed: document %s in %s (Kafka %s/%d offset %d, acknowledged at %s)",
			rep.ID, rep.Search.Index, k.Topic, k.Partition, k.Offset, k.Time.Format(time.RFC3339))
	case k.Found && k.GroupLag >= 0:
		return fmt.Sprintf("acknowledged by Kafka at %s (%s/%d offset %d), not yet indexed: the transfer's group lag on partition %d is %s",
			k.Time.Format(time.RFC3339), k.Topic, k.Partition, k.Offset, k.Partition, number(k.GroupLag))
	case k.Found:
		return fmt.Sprintf("acknowledged by Kafka at %s (%s/%d offset %d), not found in the engine%s",
			k.Time.Format(time.RFC3339), k.Topic, k.Partition, k.Offset, searchWhy(rep.Search))
	case f.Readable && f.Offset >= f.Size:
		return fmt.Sprintf("never written: %s is %d bytes, offset %d is past its end", f.Path, f.Size, f.Offset)
	case f.AckedOffset >= 0 && f.AckedOffset <= f.Offset:
		return fmt.Sprintf("not shipped yet: the agent on %s has acknowledged %s up to offset %d", f.Host, f.Path, f.AckedOffset)
	case f.AckedOffset > f.Offset:
		return fmt.Sprintf("shipped (the agent acknowledged %s up to %d) but not among the %d newest messages scanned: older than the scan, or removed by retention", f.Path, f.AckedOffset, k.Scanned)
	}
	return fmt.Sprintf("not found among the %d newest messages of each partition scanned, and no agent status says more", k.Scanned)
}

func searchWhy(s SearchStage) string {
	if s.Error != "" {
		return ": " + s.Error
	}
	return ""
}

// number writes n with thousands separators.
func number(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// WriteTrace writes the report for people: a line per stage, then the
// verdict.
func WriteTrace(w io.Writer, rep *TraceReport) error {
	f, k, s := rep.File, rep.Kafka, rep.Search
	var b strings.Builder
	fmt.Fprintf(&b, "line     %s %s offset %d", orDash(f.Host), orDash(f.Path), f.Offset)
	if rep.ID != "" {
		fmt.Fprintf(&b, " (event.id %s)", rep.ID)
	}
	b.WriteString("\nfile     ")
	switch {
	case f.Bytes != "":
		fmt.Fprintf(&b, "still there: %q", f.Bytes)
	case f.Readable:
		fmt.Fprintf(&b, "%d bytes; nothing at offset %d", f.Size, f.Offset)
	default:
		b.WriteString("not readable from here")
	}
	if f.AckedOffset >= 0 {
		fmt.Fprintf(&b, "; the agent's acknowledged offset is %d", f.AckedOffset)
	}
	b.WriteString("\nkafka    ")
	if k.Found {
		fmt.Fprintf(&b, "%s/%d offset %d, written %s", k.Topic, k.Partition, k.Offset, k.Time.Format(time.RFC3339))
		if k.GroupLag >= 0 {
			fmt.Fprintf(&b, "; group lag on the partition %s, committed past it: %v", number(k.GroupLag), k.Committed)
		}
	} else {
		fmt.Fprintf(&b, "not there (%d messages scanned)", k.Scanned)
	}
	b.WriteString("\nsearch   ")
	switch {
	case s.Found:
		fmt.Fprintf(&b, "document in %s", s.Index)
	case s.Error != "":
		b.WriteString(s.Error)
	case k.Found:
		b.WriteString("not there")
	default:
		b.WriteString("not looked for")
	}
	fmt.Fprintf(&b, "\nverdict  %s\n", rep.Verdict)
	_, err := io.WriteString(w, b.String())
	return err
}
