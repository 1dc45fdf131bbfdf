package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/logagent/logagent/collect"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// StatusOption configures a StatusPublisher.
type StatusOption func(*StatusPublisher)

// TTL sets the lease TTL of the status key: how long the key outlives an
// agent that died without revoking it. Default 30s; etcd raises values below
// its minimum (1.5 election timeouts, about 2 s).
func TTL(d time.Duration) StatusOption {
	return func(p *StatusPublisher) { p.ttl = d }
}

// MinInterval sets the least time between two writes of a changed status,
// to bound the write load a fleet puts on etcd. Default 10s. The first write,
// and the rewrite after a lost lease, are not delayed.
func MinInterval(d time.Duration) StatusOption {
	return func(p *StatusPublisher) { p.minInterval = d }
}

// CheckInterval sets how often the snapshot function is called to look for
// changes. Default 1s.
func CheckInterval(d time.Duration) StatusOption {
	return func(p *StatusPublisher) { p.checkInterval = d }
}

// StatusPublisher keeps one agent's status key up to date under a lease, so
// the key disappears when the agent stops or dies.
type StatusPublisher struct {
	cli           *clientv3.Client
	key           string
	log           *slog.Logger
	ttl           time.Duration
	minInterval   time.Duration
	checkInterval time.Duration
}

// NewStatusPublisher returns a publisher writing key. log defaults to
// slog.Default().
func NewStatusPublisher(cli *clientv3.Client, key string, log *slog.Logger, opts ...StatusOption) *StatusPublisher {
	if log == nil {
		log = slog.Default()
	}
	p := &StatusPublisher{
		cli:           cli,
		key:           key,
		log:           log.With("key", key),
		ttl:           30 * time.Second,
		minInterval:   10 * time.Second,
		checkInterval: time.Second,
	}
	for _, o := range opts {
		o(p)
	}
	if p.ttl < time.Second {
		p.ttl = time.Second // lease TTLs are whole seconds
	}
	if p.checkInterval <= 0 {
		p.checkInterval = time.Second
	}
	return p
}

// Run calls snapshot every CheckInterval and writes the status when it
// differs from the last one written (UpdatedAt aside) and MinInterval has
// passed since that write; the first write is immediate.
//
// The key is attached to a lease kept alive while Run runs. A lost lease
// (revoked, etcd rebuilt, or an outage longer than the TTL) is noticed at the
// next keepalive, within about TTL/3; Run then grants a new one and rewrites
// the status at once. While etcd is unreachable Run keeps trying, logging a
// warning now and then.
//
// When ctx is done Run revokes the lease, so the key disappears, and returns
// ctx.Err(). snapshot is called from Run's goroutine only.
func (p *StatusPublisher) Run(ctx context.Context, snapshot func() collect.Status) error {
	st := publishState{bo: newRetryBackoff(), outage: newOutageLog(p.log, "publish status")}
	defer p.stop(&st)

	tick := time.NewTicker(p.checkInterval)
	defer tick.Stop()
	p.step(ctx, &st, snapshot)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			p.step(ctx, &st, snapshot)
		case _, ok := <-st.keepAlive:
			if ok {
				continue // responses only need draining
			}
			if ctx.Err() != nil {
				return ctx.Err() // clientv3 closes it when ctx ends: stop revokes
			}
			// clientv3 closes the channel when etcd says the lease is gone
			// or no keepalive was answered within the TTL, but also when its
			// keepalive stream failed while the lease lives on: revoke it,
			// or the key could outlive this agent on a lease nobody renews
			// nor revokes until its TTL runs out.
			p.log.Warn("etcd: status lease lost; granting a new one", "lease", fmt.Sprintf("%x", int64(st.lease)))
			lost := st.lease
			p.dropLease(&st)
			p.revoke(lost)
			p.step(ctx, &st, snapshot)
		}
	}
}

// publishState is Run's state between steps.
type publishState struct {
	lease       clientv3.LeaseID // 0: none
	keepAlive   <-chan *clientv3.LeaseKeepAliveResponse
	stopKeep    context.CancelFunc
	written     []byte    // last written status with UpdatedAt zeroed; nil: write regardless (none yet, or the lease was lost)
	lastWrite   time.Time // when it was written
	nextAttempt time.Time // backoff after a failure
	bo          *retryBackoff
	outage      *outageLog
}

// step grants a lease if needed and writes the status if due.
func (p *StatusPublisher) step(ctx context.Context, st *publishState, snapshot func() collect.Status) {
	now := time.Now()
	if now.Before(st.nextAttempt) {
		return
	}
	if st.written != nil && now.Sub(st.lastWrite) < p.minInterval {
		return // nothing may be written yet: skip building the snapshot
	}

	snap := snapshot()
	snap.UpdatedAt = time.Time{}
	if snap.Files == nil {
		snap.Files = []collect.FileStatus{} // readers get [] rather than null
	}
	cmp, err := json.Marshal(snap)
	if err != nil {
		p.log.Error("etcd: cannot encode status", "err", err)
		return
	}
	if st.written != nil && bytes.Equal(cmp, st.written) {
		return // unchanged
	}

	if err := p.write(ctx, st, snap, cmp, now); err != nil {
		if ctx.Err() != nil {
			return
		}
		st.outage.fail(err)
		st.nextAttempt = time.Now().Add(st.bo.next())
		return
	}
	st.outage.ok()
	st.bo.reset()
}

// write puts the status under the lease, granting one first if needed.
func (p *StatusPublisher) write(ctx context.Context, st *publishState, snap collect.Status, cmp []byte, now time.Time) error {
	if st.lease == 0 {
		if err := p.grant(ctx, st); err != nil {
			return err
		}
	}
	snap.UpdatedAt = now.UTC()
	val, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := p.cli.Put(pctx, p.key, string(val), clientv3.WithLease(st.lease)); err != nil {
		if errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseNotFound) {
			p.dropLease(st) // expired between keepalives: grant anew next time
		}
		return fmt.Errorf("put %s: %w", p.key, err)
	}
	st.written, st.lastWrite = cmp, now
	return nil
}

// grant takes a new lease and starts keeping it alive.
func (p *StatusPublisher) grant(ctx context.Context, st *publishState) error {
	gctx, cancel := context.WithTimeout(ctx, opTimeout)
	resp, err := p.cli.Grant(gctx, int64(p.ttl/time.Second))
	cancel()
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	kctx, stopKeep := context.WithCancel(ctx)
	ch, err := p.cli.KeepAlive(kctx, resp.ID)
	if err != nil {
		stopKeep()
		return fmt.Errorf("keep lease %x alive: %w", int64(resp.ID), err)
	}
	st.lease, st.keepAlive, st.stopKeep = resp.ID, ch, stopKeep
	p.log.Debug("etcd: status lease granted", "lease", fmt.Sprintf("%x", int64(resp.ID)), "ttl", resp.TTL)
	return nil
}

// dropLease forgets the current lease; the next step grants a new one and
// rewrites the status.
func (p *StatusPublisher) dropLease(st *publishState) {
	if st.stopKeep != nil {
		st.stopKeep()
	}
	st.lease, st.keepAlive, st.stopKeep = 0, nil, nil
	st.written = nil // the key went with the lease
	st.nextAttempt = time.Time{}
}

// stop revokes the lease so the status key disappears with the agent.
func (p *StatusPublisher) stop(st *publishState) {
	if st.stopKeep != nil {
		st.stopKeep()
	}
	if st.lease == 0 {
		return
	}
	p.revoke(st.lease)
}

// revoke ends a lease and so deletes the status key written under it. It
// has a short deadline of its own (Run's ctx may be done) so a dead etcd
// cannot hold up shutdown: the lease then expires by its TTL.
func (p *StatusPublisher) revoke(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := p.cli.Revoke(ctx, lease); err != nil {
		if errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseNotFound) {
			return // expired already, and the key with it
		}
		p.log.Warn("etcd: could not revoke status lease; the key expires with its TTL", "err", err, "ttl", p.ttl)
		return
	}
	p.log.Debug("etcd: status lease revoked", "lease", fmt.Sprintf("%x", int64(lease)))
}
