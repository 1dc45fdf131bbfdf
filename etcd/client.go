// Package etcd is logagent's etcd side: the key layout, a client
// constructor that never blocks on an unreachable etcd, a watcher for the
// keys of one agent's collect config and a publisher for its status. The
// config's schema is package collect's.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/metadata"

	"github.com/logagent/logagent/conf"
)

const (
	// reconnectMaxDelay caps gRPC's reconnect backoff. Its default (120 s)
	// turned a 20 s etcd outage into an 11 s wait after the restart.
	reconnectMaxDelay = 2 * time.Second
	// keepAliveTime and keepAliveTimeout detect a dead connection (host gone,
	// network cut) in about 13 s. etcd answers pings more often than every 5 s
	// with GOAWAY too_many_pings, so the time stays well above that, and
	// pings are only sent while a stream (watch, lease keepalive) is open
	// because etcd does not permit them otherwise.
	keepAliveTime    = 10 * time.Second
	keepAliveTimeout = 3 * time.Second
	// opTimeout bounds one etcd request made by Source or StatusPublisher.
	opTimeout = 5 * time.Second
)

// NewClient builds an etcd client from c. It does not wait for etcd: it
// succeeds while etcd is unreachable, and requests block (bounded by their
// context) until a connection is made. gRPC reconnects with a backoff capped
// at 2 s, so a restarted etcd is used again within about 2 s.
//
// With Username and Password set, the client authenticates lazily, on first
// use and whenever etcd rejects the token, instead of at construction as
// clientv3 does (clientv3.New fails after DialTimeout when it cannot
// authenticate, which would stop the agent from starting during an etcd
// outage). The password is never logged.
func NewClient(c conf.Etcd) (*clientv3.Client, error) {
	if len(c.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints configured")
	}
	tlsCfg, err := c.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("etcd.tls: %w", err)
	}
	dialTimeout := c.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = 5 * time.Second
	}

	dialOpts := []grpc.DialOption{
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  250 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   reconnectMaxDelay,
			},
			MinConnectTimeout: dialTimeout,
		}),
	}
	if c.Username != "" {
		password, err := c.Password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("etcd.password: %w", err)
		}
		if password != "" {
			a := &tokenAuth{user: c.Username, password: password}
			dialOpts = append(dialOpts,
				grpc.WithChainUnaryInterceptor(a.unary),
				grpc.WithChainStreamInterceptor(a.stream))
		}
	}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            c.Endpoints,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		TLS:                  tlsCfg,
		DialOptions:          dialOpts,
		// clientv3 warns through zap on every retried request, which floods
		// stderr during an outage; Source and StatusPublisher log through
		// slog instead, rate-limited.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", c.Endpoints, err)
	}
	return cli, nil
}

// authMethod is etcd's Authenticate RPC, which must go out without a token.
const authMethod = "/etcdserverpb.Auth/Authenticate"

// tokenAuth attaches an etcd auth token to every request, fetching it on
// demand. See NewClient for why clientv3's own Username/Password is not used.
type tokenAuth struct {
	user, password string

	mu    sync.Mutex
	token string
	valid bool // token was fetched (an empty token means auth is disabled)
}

func (a *tokenAuth) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method == authMethod {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	tok, err := a.get(ctx, cc, false)
	if err != nil {
		return err
	}
	err = invoker(withToken(ctx, tok), method, req, reply, cc, opts...)
	if !tokenRejected(err) {
		return err
	}
	// Tokens die with an etcd restart (simple tokens) or expire: get a new
	// one and try once more.
	if tok, err = a.get(ctx, cc, true); err != nil {
		return err
	}
	return invoker(withToken(ctx, tok), method, req, reply, cc, opts...)
}

func (a *tokenAuth) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	// A stream is opened again after every reconnect, possibly long after
	// the token was fetched, and a watch on a stale token fails without a
	// retry (etcd issue 11954): take a fresh token for each stream, as
	// clientv3 does.
	tok, err := a.get(ctx, cc, true)
	if err != nil {
		return nil, err
	}
	return streamer(withToken(ctx, tok), desc, cc, method, opts...)
}

// get returns the cached token, or authenticates when there is none or
// refresh is set.
func (a *tokenAuth) get(ctx context.Context, cc *grpc.ClientConn, refresh bool) (string, error) {
	a.mu.Lock()
	tok, valid := a.token, a.valid
	a.mu.Unlock()
	if valid && !refresh {
		return tok, nil
	}

	// Not holding the lock here: a slow Authenticate must not hold up
	// callers whose contexts end sooner. Concurrent fetches are harmless.
	resp := &pb.AuthenticateResponse{}
	err := cc.Invoke(ctx, authMethod, &pb.AuthenticateRequest{Name: a.user, Password: a.password}, resp, grpc.WaitForReady(true))
	switch {
	case errors.Is(rpctypes.Error(err), rpctypes.ErrAuthNotEnabled):
		resp.Token = "" // auth is off on this cluster; requests go without a token
	case err != nil:
		return "", fmt.Errorf("etcd authenticate as %q: %w", a.user, rpctypes.Error(err))
	}
	a.mu.Lock()
	a.token, a.valid = resp.Token, true
	a.mu.Unlock()
	return resp.Token, nil
}

func withToken(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok)
}

// tokenRejected reports errors that a fresh token may cure.
func tokenRejected(err error) bool {
	if err == nil {
		return false
	}
	err = rpctypes.Error(err)
	return errors.Is(err, rpctypes.ErrInvalidAuthToken) ||
		errors.Is(err, rpctypes.ErrUserEmpty) ||
		errors.Is(err, rpctypes.ErrAuthOldRevision)
}

// retryBackoff is a capped exponential backoff with jitter for retrying etcd
// requests while etcd is unreachable.
type retryBackoff struct {
	min, max time.Duration
	cur      time.Duration
}

func newRetryBackoff() *retryBackoff {
	return &retryBackoff{min: 200 * time.Millisecond, max: 5 * time.Second}
}

// next returns the delay before the next attempt and doubles it.
func (b *retryBackoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	}
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	// ±20% jitter so agents restarted together do not retry in lockstep.
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (b *retryBackoff) reset() { b.cur = 0 }

// wait sleeps for d or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// outageLog logs a failing operation at warn once when it starts failing and
// then at most every interval while it keeps failing, and at info when it
// recovers, so an etcd outage gives a few lines instead of one per retry.
type outageLog struct {
	log      *slog.Logger
	what     string // e.g. "read collect config"
	interval time.Duration

	failures int
	since    time.Time
	lastLog  time.Time
}

func newOutageLog(log *slog.Logger, what string) *outageLog {
	return &outageLog{log: log, what: what, interval: time.Minute}
}

func (o *outageLog) fail(err error, attrs ...any) {
	now := time.Now()
	o.failures++
	if o.failures == 1 {
		o.since = now
	}
	if o.failures > 1 && now.Sub(o.lastLog) < o.interval {
		return
	}
	o.lastLog = now
	args := append([]any{"err", err, "failures", o.failures, "failing_for", now.Sub(o.since).Round(time.Millisecond)}, attrs...)
	o.log.Warn("etcd: "+o.what+" failed; retrying", args...)
}

func (o *outageLog) ok(attrs ...any) {
	if o.failures == 0 {
		return
	}
	args := append([]any{"failures", o.failures, "failed_for", time.Since(o.since).Round(time.Millisecond)}, attrs...)
	o.log.Info("etcd: "+o.what+" recovered", args...)
	o.failures = 0
}
