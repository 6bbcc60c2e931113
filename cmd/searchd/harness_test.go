package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/stacksearch/stacksearch/proto/stacksearch/v1"
)

// The end-to-end tests run the real searchd binary, built once by TestMain
// (with the race detector when the tests have it), on loopback ports the
// kernel picks.

var searchdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "searchd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	searchdBin = filepath.Join(dir, "searchd")
	args := []string{"build", "-o", searchdBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build searchd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testServer is one running searchd.
type testServer struct {
	t        testing.TB
	cmd      *exec.Cmd
	httpAddr string
	grpcAddr string
	conn     *grpc.ClientConn
	search   pb.SearchServiceClient
	admin    pb.AdminServiceClient
	logs     *logBuffer
	exited   chan struct{}
	exitErr  error
}

// logBuffer collects the server's log lines, safe for concurrent use.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	b.lines = append(b.lines, line)
	b.mu.Unlock()
	select {
	case b.added <- struct{}{}:
	default:
	}
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// find returns the first log record whose msg is msg.
func (b *logBuffer) find(msg string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// serverOptions configure startServer.
type serverOptions struct {
	args  []string
	token string // STACKSEARCH_ADMIN_TOKEN; "" leaves the admin API disabled
	env   []string
}

const testToken = "test-admin-token-0123456789"

// startServer starts searchd and waits until it is ready; it is stopped when the test ends.
func startServer(t testing.TB, o serverOptions) *testServer {
	t.Helper()
	s := spawn(t, o.args, append([]string{"STACKSEARCH_ADMIN_TOKEN=" + o.token}, o.env...))
	s.connect(insecure.NewCredentials())
	s.waitReady(time.After(2 * time.Minute))
	return s
}

// spawn starts searchd on loopback ports the kernel picks, with env added to
// this process's environment, and waits until it logs its addresses; it is
// stopped when the test ends.
func spawn(t testing.TB, args, env []string) *testServer {
	t.Helper()
	args = append([]string{"-http-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-log-json", "-log-level", "debug"}, args...)
	cmd := exec.Command(searchdBin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, cmd: cmd, logs: &logBuffer{added: make(chan struct{}, 1)}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.logs.add(sc.Text())
		}
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("searchd logs:\n%s", s.logs)
		}
	})
	deadline := time.After(2 * time.Minute)
	for s.httpAddr == "" {
		if rec := s.logs.find("listening"); rec != nil {
			s.httpAddr, _ = rec["http_addr"].(string)
			s.grpcAddr, _ = rec["grpc_addr"].(string)
			break
		}
		select {
		case <-s.logs.added:
		case <-time.After(50 * time.Millisecond):
		case <-s.exited:
			t.Fatalf("searchd exited before listening: %v\n%s", s.exitErr, s.logs)
		case <-deadline:
			t.Fatalf("searchd did not start listening:\n%s", s.logs)
		}
	}
	return s
}

// connect opens the gRPC clients.
func (s *testServer) connect(creds credentials.TransportCredentials) {
	s.t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		s.t.Fatal(err)
	}
	s.conn = conn
	s.search = pb.NewSearchServiceClient(conn)
	s.admin = pb.NewAdminServiceClient(conn)
}

// waitReady polls /readyz until it answers 200.
func (s *testServer) waitReady(deadline <-chan time.Time) {
	s.t.Helper()
	for {
		resp, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-s.exited:
			s.t.Fatalf("searchd exited before ready: %v\n%s", s.exitErr, s.logs)
		case <-deadline:
			s.t.Fatalf("searchd not ready in time:\n%s", s.logs)
		}
	}
}

// stop sends SIGTERM and waits for the process to exit, returning its error.
func (s *testServer) stop() error {
	if s.conn != nil {
		s.conn.Close()
	}
	select {
	case <-s.exited:
		return s.exitErr
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("searchd did not exit within 30s of SIGTERM")
	}
	return s.exitErr
}

// url returns the REST URL of path.
func (s *testServer) url(path string) string { return "http://" + s.httpAddr + path }

// rest makes a REST call and decodes the JSON answer into out (when not nil),
// returning the HTTP status.
func (s *testServer) rest(method, path, token string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				s.t.Fatal(err)
			}
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, s.url(path), rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d, body is not JSON: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode
}

// adminCtx carries the admin token in gRPC metadata.
func adminCtx(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}
