package testenv

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// etcdReadyTimeout bounds the wait for a started etcd to serve. It starts in
// 0.2-0.9 s; the margin is for -race on a busy 2-core machine.
const etcdReadyTimeout = 30 * time.Second

// Etcd is a real single-member etcd server (go.etcd.io/etcd/server/v3/embed)
// running inside the test process.
//
// Clients reach it through two TCP proxies owned by Etcd: one for the code
// under test (Endpoints) and one for the test's own client (Client). Stop
// drops every proxied connection before closing the server, which is how a
// crash looks to clients and keeps Stop fast: etcd's graceful Close otherwise
// waits 7 s for each open watch stream. Partition cuts only the code under
// test off while etcd keeps running.
type Etcd struct {
	t          testing.TB
	dir        string // data dir, kept across restarts
	logFile    string
	clientPort int // etcd's own client port
	peerPort   int
	front      *tcpProxy // Endpoints
	admin      *tcpProxy // Client

	mu           sync.Mutex
	srv          *embed.Etcd // nil while stopped
	partitioned  bool
	rootPassword string // set by EnableAuth; Client logs in as root with it
}

// StartEtcd starts an etcd on 127.0.0.1 with free ports, a t.TempDir() data
// dir and fsync off, and waits until it serves. It is stopped by t.Cleanup;
// clients made with Client are closed before that. On test failure the tail
// of etcd's log (warnings and errors) is printed.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	var e *Etcd
	// A free port can be taken by another process before etcd binds it:
	// try again with new ports.
	for attempt := 1; ; attempt++ {
		e = &Etcd{
			t:          t,
			dir:        t.TempDir(),
			logFile:    filepath.Join(t.TempDir(), "etcd.log"),
			clientPort: FreePort(t),
			peerPort:   FreePort(t),
		}
		backend := net.JoinHostPort("127.0.0.1", strconv.Itoa(e.clientPort))
		e.front = &tcpProxy{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))), target: backend}
		e.admin = &tcpProxy{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))), target: backend}
		err := e.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("testenv: start etcd: %v", err)
		}
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			e.dumpLog()
		}
	})
	return e
}

// Endpoints are the client endpoints for the code under test (host:port).
// They stay the same across Stop/Restart.
func (e *Etcd) Endpoints() []string {
	return []string{e.front.addr}
}

// Client returns a client for test setup and checks. It bypasses Partition
// (but not Stop), reconnects within about 2 s after Restart, and is closed by
// t.Cleanup before the server stops. After EnableAuth it logs in as root.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	e.mu.Lock()
	rootPassword := e.rootPassword
	e.mu.Unlock()
	user := ""
	if rootPassword != "" {
		user = "root"
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{e.admin.addr},
		Username:    user,
		Password:    rootPassword,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
		})},
	})
	if err != nil {
		t.Fatalf("testenv: etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Stop drops all client connections and stops etcd, keeping its data. It
// does nothing if etcd is stopped already.
func (e *Etcd) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv == nil {
		return
	}
	e.front.stop()
	e.admin.stop()
	e.srv.Close()
	e.srv = nil
}

// Restart stops etcd if it runs and starts it again on the same ports and
// data dir. A Partition stays in force.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	e.Stop()
	if err := e.start(); err != nil {
		t.Fatalf("testenv: restart etcd: %v", err)
	}
}

// Partition cuts the code under test off etcd: connections to Endpoints are
// dropped and new ones refused, while etcd keeps running and Client keeps
// working. Heal ends it.
func (e *Etcd) Partition() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partitioned = true
	e.front.stop()
}

// Heal ends a Partition.
func (e *Etcd) Heal(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partitioned = false
	if e.srv == nil {
		return // started with the server by Restart
	}
	if err := e.front.start(); err != nil {
		t.Fatalf("testenv: heal etcd partition: %v", err)
	}
}

func (e *Etcd) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()

	cfg := embed.NewConfig()
	cfg.Name = "testenv"
	cfg.Dir = e.dir
	cfg.UnsafeNoFsync = true
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.peerPort))}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{e.logFile}
	// embed.NewConfig leaves this 0 (only etcd's flags default it), which
	// logs every request as slow.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	// bcrypt's minimum cost: etcd's default makes each Authenticate take
	// ~2 s under -race, and clients authenticate for every new stream.
	cfg.BcryptCost = uint(bcrypt.MinCost)

	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("embed.StartEtcd: %w", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		srv.Close()
		return fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(etcdReadyTimeout):
		srv.Close()
		return fmt.Errorf("etcd not ready after %v (log: %s)", etcdReadyTimeout, e.logFile)
	}
	if err := e.admin.start(); err != nil {
		srv.Close()
		return err
	}
	if !e.partitioned {
		if err := e.front.start(); err != nil {
			e.admin.stop()
			srv.Close()
			return err
		}
	}
	e.srv = srv
	return nil
}

// dumpLog prints the end of etcd's log file.
func (e *Etcd) dumpLog() {
	b, err := os.ReadFile(e.logFile)
	if err != nil || len(b) == 0 {
		return
	}
	const tail = 8 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	e.t.Logf("etcd log tail (%s):\n%s", e.logFile, b)
}

// tcpProxy forwards connections from addr to target. stop closes the
// listener and every open connection; start listens on addr again.
type tcpProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener // nil while stopped
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // accept loop and connection handlers
}

func (p *tcpProxy) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy listen %s: %w", p.addr, err)
	}
	p.ln = ln
	p.conns = map[net.Conn]struct{}{}
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *tcpProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // listener closed by stop
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve pipes one connection both ways until either side closes or the
// proxy stops.
func (p *tcpProxy) serve(c net.Conn) {
	defer p.wg.Done()
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, u) {
		_ = c.Close()
		_ = u.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	// One direction ended: end the other too, as a dead process would.
	_ = c.Close()
	_ = u.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// track registers a connection pair, or reports false if the proxy stopped.
func (p *tcpProxy) track(c, u net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	p.conns[u] = struct{}{}
	return true
}
