package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// outage is the outage run's fault: once a share of the documents is
// committed it stops ZincSearch (SIGTERM), keeps it down for a while, starts
// it again on the same port and data, and times the transfer's recovery from
// the moment the engine answers again. It acts from the offset-polling loop
// (transferSpec.watch), so the recovery is read on the same 25 ms polls as
// the rest of the run.
type outage struct {
	z    *zinc
	at   int64         // stop the engine once this many documents are committed
	down time.Duration // how long it stays down
	ends []int64       // each partition's message count

	stopped    bool
	atStop     int64           // committed once the engine had exited
	atBack     int64           // committed just before it was started again
	stopTook   time.Duration   // SIGTERM to exit
	back       time.Time       // the engine answered again
	backPer    map[int32]int64 // each partition's committed offset then
	moved      map[int32]time.Duration
	firstMoved time.Duration // back → the first partition's offset moved
	allMoved   time.Duration // back → every unfinished partition's moved
}

func (o *outage) watch(ctx context.Context, g *groupOffsets, committed int64, now time.Time) error {
	switch {
	case !o.stopped && committed >= o.at:
		return o.cut(ctx, g)
	case o.stopped && o.allMoved == 0 && committed > o.atBack:
		return o.see(g, now)
	}
	return nil
}

// see records which partitions committed again since the engine returned.
func (o *outage) see(g *groupOffsets, now time.Time) error {
	per, err := g.perPartition()
	if err != nil {
		return err
	}
	waiting := 0
	for p, end := range o.ends {
		part := int32(p)
		if o.backPer[part] >= end { // finished before the outage
			continue
		}
		if _, ok := o.moved[part]; !ok && per[part] > o.backPer[part] {
			o.moved[part] = now.Sub(o.back)
			if o.firstMoved == 0 {
				o.firstMoved = o.moved[part]
			}
		}
		if _, ok := o.moved[part]; !ok {
			waiting++
		}
	}
	if waiting == 0 {
		o.allMoved = now.Sub(o.back)
	}
	return nil
}

// cut stops the engine, waits out the outage and starts the engine again.
func (o *outage) cut(ctx context.Context, g *groupOffsets) error {
	o.stopped = true
	prog.Logf("stopping zincsearch for %v", o.down)
	sent := time.Now()
	// Its backlog is indexed again from its log after the restart; a slow
	// shutdown is cut short.
	_ = o.z.stop(10 * time.Second)
	o.stopTook = time.Since(sent)
	var err error
	if o.atStop, err = g.committed(); err != nil {
		return err
	}
	select {
	case <-time.After(o.down): // the outage itself
	case <-ctx.Done():
		return ctx.Err()
	}
	if o.backPer, err = g.perPartition(); err != nil {
		return err
	}
	for _, c := range o.backPer {
		o.atBack += c
	}
	o.moved = map[int32]time.Duration{}
	if err := o.z.restart(ctx); err != nil {
		return err
	}
	o.back = time.Now()
	prog.Logf("zincsearch answers again")
	return nil
}

// outageResult is what the report prints about the outage run.
type outageResult struct {
	o        *outage
	docs     int64
	allDone  time.Duration // engine back → every document committed
	requests float64       // bulk requests the transfer sent
	batches  float64       // batches it committed
	warnings int           // WARN and ERROR lines in its log
}

// runOutage is the transfer into a fresh ZincSearch that goes away for
// -outage once a quarter of the documents are committed.
func (e *env) runOutage(ctx context.Context) ([]row, error) {
	stopZinc, err := e.freshZinc(ctx, "outage")
	if err != nil {
		return nil, err
	}
	defer stopZinc()
	z := e.zinc
	n := int64(e.docs)
	o := &outage{z: z, at: n / 4, down: e.o.outage, ends: e.pre.perPartition}
	r, err := e.runTransfer(ctx, transferSpec{name: "transfer-outage", esURL: z.url, user: z.user, pass: z.pass, watch: o.watch})
	if err != nil {
		return nil, err
	}
	if !o.stopped {
		return nil, fmt.Errorf("outage run: every document was committed before the engine was stopped")
	}
	e.outages = append(e.outages, outageResult{o: o, docs: n, allDone: r.acked.Sub(o.back),
		requests: r.final["bulk_requests_total"], batches: r.final["batch_documents_count"], warnings: r.warnings})
	return nil, nil
}

func (r outageResult) report(w io.Writer) {
	o := r.o
	fmt.Fprintf(w, "outage: ZincSearch stopped (SIGTERM, exited after %.2f s) at %d of %d documents committed, down %v; committed while down: %d\n",
		o.stopTook.Seconds(), o.atStop, r.docs, o.down, o.atBack-o.atStop)
	fmt.Fprintf(w, "recovery: engine answering again → a partition commits again %.2f s, every partition %.2f s, all %d documents committed %.2f s; %.0f bulk requests for %.0f batches; %d warnings/errors in the transfer's log\n",
		o.firstMoved.Seconds(), o.allMoved.Seconds(), r.docs, r.allDone.Seconds(), r.requests, r.batches, r.warnings)
}
