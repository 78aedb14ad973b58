// Package etcdtest starts a private etcd server (the real one, Debian's
// etcd-server) for a test: free loopback ports for clients and peers, a
// temporary data directory, a health wait, and Stop/Start so tests can take
// it away and bring it back. Without the binary the test is skipped, except
// under CI=true, where it fails: CI must have run scripts/test-deps.sh.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// HowTo tells how to get the etcd binary these tests need.
const HowTo = "install it with scripts/test-deps.sh (which `make test` runs; it installs the Debian package etcd-server) or `apt-get install etcd-server`"

// Server is one single-member etcd cluster owned by a test.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	client  string // client URL
	peer    string // peer URL
	logFile string

	mu       sync.Mutex
	restores int
	cmd      *exec.Cmd
	// exited is closed when cmd's process has been waited for.
	exited chan struct{}
}

// Start runs a new etcd for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and etcd is not installed: %s", HowTo)
		}
		t.Skipf("etcd is not installed: %s", HowTo)
	}
	dir := t.TempDir()
	s := &Server{
		t:       t,
		bin:     bin,
		dir:     filepath.Join(dir, "data"),
		client:  "http://" + freeAddr(t),
		peer:    "http://" + freeAddr(t),
		logFile: filepath.Join(dir, "etcd.log"),
	}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// Endpoint is the client URL (http://127.0.0.1:port).
func (s *Server) Endpoint() string { return s.client }

// Restart starts etcd again after Stop, on the same ports and data; it
// waits until the server answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(s.bin,
		"--name", "test",
		"--data-dir", s.dir,
		"--listen-client-urls", s.client,
		"--advertise-client-urls", s.client,
		"--listen-peer-urls", s.peer,
		"--initial-advertise-peer-urls", s.peer,
		"--initial-cluster", "test="+s.peer,
		"--initial-cluster-state", "new",
		"--log-level", "warn",
		"--logger", "zap",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	c := s.newClient()
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "health")
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(s.logFile)
			s.t.Fatalf("etcd exited during start-up:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.logFile)
			s.t.Fatalf("etcd on %s does not answer after 20s (%v):\n%s", s.client, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills etcd (SIGKILL: the way a crash or a network loss looks to
// clients) and waits for it to exit. The data directory is kept.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Snapshot saves a backup of the data to path (etcdctl snapshot save).
func (s *Server) Snapshot(path string) {
	s.t.Helper()
	s.etcdctl("--endpoints", s.client, "snapshot", "save", path)
}

// Restore stops etcd, replaces its data with the backup at path (etcdctl
// snapshot restore) and starts it again: the revision goes back to the
// backup's, as when an operator restores a cluster.
func (s *Server) Restore(path string) {
	s.t.Helper()
	s.Stop()
	s.mu.Lock()
	s.restores++
	dir := fmt.Sprintf("%s-restored-%d", s.dir, s.restores)
	s.mu.Unlock()
	s.etcdctl("snapshot", "restore", path, "--data-dir", dir, "--name", "test",
		"--initial-cluster", "test="+s.peer, "--initial-advertise-peer-urls", s.peer)
	s.mu.Lock()
	s.dir = dir
	s.mu.Unlock()
	s.Restart()
}

func (s *Server) etcdctl(args ...string) {
	s.t.Helper()
	bin, err := exec.LookPath("etcdctl")
	if err != nil {
		s.t.Fatalf("etcdctl is not installed: %s", HowTo)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
	}
}

// Client returns a client of this server, closed when the test ends.
func (s *Server) Client() *clientv3.Client {
	s.t.Helper()
	c := s.newClient()
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) newClient() *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.client},
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		s.t.Fatalf("etcd client: %v", err)
	}
	return c
}

// Put writes key=value, failing the test on error.
func (s *Server) Put(c *clientv3.Client, key, value string) int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Put(ctx, key, value)
	if err != nil {
		s.t.Fatalf("etcd put %s: %v", key, err)
	}
	return r.Header.Revision
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// String is for test logs.
func (s *Server) String() string { return fmt.Sprintf("etcd %s (data %s)", s.client, s.dir) }
