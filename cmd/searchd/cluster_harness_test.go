package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking for round_robin
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// The cluster tests run real searchd replicas against NATS JetStream servers
// run in-process (the nats-server module), with REST behind Debian's HAProxy
// and gRPC balanced per call by the client (round_robin over the replicas'
// addresses, with retries and health checks). Without haproxy they skip,
// unless STACKSEARCH_CLUSTER_TESTS=1 (set by `make test`, whose deps target
// installs it) makes them mandatory.

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natsCluster is n in-process NATS servers with JetStream, routed together
// when n > 1, each stoppable and restartable on its ports with its store.
type natsCluster struct {
	t       testing.TB
	opts    []server.Options
	servers []*server.Server
}

func startNATSCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t, servers: make([]*server.Server, n)}
	var routes []string
	clusterPorts := make([]int, n)
	for i := range n {
		clusterPorts[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i]))
	}
	for i := range n {
		o := server.Options{ServerName: fmt.Sprintf("nats-%d", i+1), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "stacksearch-test", Host: "127.0.0.1", Port: clusterPorts[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		c.opts = append(c.opts, o)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); c.start(i) }()
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range c.servers {
			c.stop(i)
		}
	})
	c.waitJetStream()
	return c
}

// start starts server i (again).
func (c *natsCluster) start(i int) {
	o := c.opts[i]
	srv, err := server.NewServer(&o)
	if err != nil {
		c.t.Error(err)
		return
	}
	go srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		c.t.Errorf("nats server %d did not start", i+1)
	}
	c.servers[i] = srv
}

// stop shuts server i down.
func (c *natsCluster) stop(i int) {
	if srv := c.servers[i]; srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		c.servers[i] = nil
	}
}

// url is every server's client URL, as searchd -nats-url takes them.
func (c *natsCluster) url() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// jetStream connects a client for the test's own look at the cluster.
func (c *natsCluster) jetStream() (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return nc, js
}

// waitJetStream waits until JetStream answers (a meta leader is elected).
func (c *natsCluster) waitJetStream() {
	c.t.Helper()
	nc, js := c.jetStream()
	defer nc.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("JetStream not available: %v", err)
		}
	}
}

// streamLeader returns the index of the server leading the changes stream.
func (c *natsCluster) streamLeader() int {
	c.t.Helper()
	nc, js := c.jetStream()
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "STACKSEARCH_CHANGES")
	if err != nil {
		c.t.Fatal(err)
	}
	info := s.CachedInfo()
	for i, o := range c.opts {
		if info.Cluster != nil && info.Cluster.Leader == o.ServerName {
			return i
		}
	}
	c.t.Fatalf("no stream leader among the servers: %+v", info.Cluster)
	return -1
}

// replicaSet is searchd replicas on fixed ports, so that a restarted one is
// where the balancers expect it.
type replicaSet struct {
	t       *testing.T
	nats    string
	args    []string
	nodes   []*testServer
	dirs    []string
	http    []string
	grpc    []string
	restart []serverOptions
}

func startReplicas(t *testing.T, natsURL string, n int, args ...string) *replicaSet {
	t.Helper()
	rs := &replicaSet{t: t, nats: natsURL, args: args}
	for i := range n {
		rs.dirs = append(rs.dirs, filepath.Join(t.TempDir(), "data"))
		rs.http = append(rs.http, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		rs.grpc = append(rs.grpc, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		opts := serverOptions{token: testToken, args: append([]string{"-nats-url", natsURL, "-node-id", fmt.Sprintf("replica-%d", i+1),
			"-data-dir", rs.dirs[i], "-http-addr", rs.http[i], "-grpc-addr", rs.grpc[i], "-log-level", "info",
			"-rate-limit", "0", "-max-inflight", "0"}, args...)}
		rs.restart = append(rs.restart, opts)
		rs.nodes = append(rs.nodes, nil)
	}
	// the first builds the cluster's first index; the others join it
	rs.nodes[0] = startServer(t, rs.restart[0])
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); rs.nodes[i] = startServer(t, rs.restart[i]) }()
	}
	wg.Wait()
	return rs
}

// kill kills replica i with SIGKILL.
func (rs *replicaSet) kill(i int) {
	s := rs.nodes[i]
	s.cmd.Process.Kill()
	<-s.exited
	s.conn.Close()
}

// start starts replica i again, on its ports and data directory, and waits
// until it is ready: joined the cluster.
func (rs *replicaSet) start(i int) { rs.nodes[i] = startServer(rs.t, rs.restart[i]) }

// haproxy is Debian's HAProxy balancing REST over the replicas, checking
// /readyz and retrying a request a replica failed to answer on another one.
type haproxy struct {
	addr string
	cmd  *exec.Cmd
}

const haproxyConfig = `global
	maxconn 1024
defaults
	mode http
	timeout connect 1s
	timeout client 30s
	timeout server 30s
	timeout queue 5s
	retries 3
	option redispatch 1
	retry-on all-retryable-errors
frontend search
	bind %s
	default_backend replicas
backend replicas
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 200ms fall 2 rise 2
%s`

func startHAProxy(t *testing.T, backends []string) *haproxy {
	t.Helper()
	path, err := exec.LookPath("haproxy")
	if err != nil {
		path = "/usr/sbin/haproxy"
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("STACKSEARCH_CLUSTER_TESTS") == "1" {
				t.Fatal("haproxy not found: install Debian's haproxy (make deps)")
			}
			t.Skip("haproxy not found; `make test` installs it (make deps) and makes this test mandatory")
		}
	}
	h := &haproxy{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	var servers strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&servers, "\tserver replica-%d %s check\n", i+1, b)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(haproxyConfig, h.addr, servers.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command(path, "-db", "-f", cfg)
	var logs strings.Builder
	h.cmd.Stdout, h.cmd.Stderr = &logs, &logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + h.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy does not answer: %v\n%s", err, logs.String())
		}
	}
}

// roundRobin dials the replicas as one gRPC channel balanced per call,
// skipping replicas whose health check does not say SERVING and retrying a
// search that a replica answered Unavailable (or failed to answer) on another.
func roundRobin(t testing.TB, addrs []string) *grpc.ClientConn {
	t.Helper()
	r := manual.NewBuilderWithScheme("replicas")
	var state resolver.State
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	conn, err := grpc.NewClient(r.Scheme()+":///searchd", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{
			"loadBalancingConfig": [{"round_robin": {}}],
			"healthCheckConfig": {"serviceName": ""},
			"methodConfig": [{
				"name": [{"service": "stacksearch.v1.SearchService"}],
				"retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.02s", "maxBackoff": "0.2s",
					"backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
			}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

var clusterQueries = []string{"django", "salary", "python database", "security", "api", "web development framework"}

// startClusterLoad starts clients searching the cluster until stopped: half
// over REST through the balancer at lb, half over gRPC on conn (round_robin).
func startClusterLoad(lb string, conn *grpc.ClientConn, clients int) *searchLoad {
	search := pb.NewSearchServiceClient(conn)
	client := &http.Client{Timeout: 10 * time.Second}
	return runSearchLoad(loadOptions{clients: clients, queries: clusterQueries, pause: 5 * time.Millisecond}, func(c int, q string) (int, error) {
		if c%2 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := search.Search(ctx, &pb.SearchRequest{Query: q, PageSize: 5})
			return len(res.GetHits()), err
		}
		resp, err := client.Get("http://" + lb + "/v1/search?page_size=5&query=" + url.QueryEscape(q))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("REST status %d", resp.StatusCode)
		}
		return 0, nil
	})
}
