// Package redistest starts Redis servers for tests: a real redis-server
// on a free loopback port with its own directory, or an in-process
// miniredis.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
)

// RequireEnv names the environment variable that, set to 1, turns a
// missing redis-server into a test failure instead of a skip.
const RequireEnv = "DROVER_REQUIRE_REDIS"

// Options configure a real server.
type Options struct {
	// AppendOnly turns on the append-only file with fsync on every write,
	// so that a killed server loses nothing it acknowledged.
	AppendOnly bool
	// Cluster starts the server in cluster mode, as a cluster of one node
	// that serves every slot: commands and transactions whose keys span
	// slots are refused as on a larger cluster.
	Cluster bool
}

// Server is a redis-server process owned by a test.
type Server struct {
	// Addr is host:port of the server.
	Addr string
	// Dir is the server's working directory.
	Dir string

	t    testing.TB
	opts Options
	port int
	cmd  *exec.Cmd
	exit chan struct{}

	// bin is the program (redis-server unless set), conf a config file
	// it reads first, and extra more arguments after the common ones.
	bin   string
	conf  string
	extra []string

	adminOnce sync.Once
	adminC    *goredis.Client
}

// Start starts redis-server and stops it when the test ends. Without a
// redis-server on PATH the test is skipped, or fails if DROVER_REQUIRE_REDIS=1.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	require(t, "redis-server")
	s := newServer(t, opts)
	s.start()
	return s
}

// require skips the test, or fails it if DROVER_REQUIRE_REDIS=1, unless
// every named program is on PATH.
func require(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			msg := p + " not found on PATH; install it to run the real-Redis tests (Debian: apt-get install redis-server redis-tools redis-sentinel)"
			if os.Getenv(RequireEnv) == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// newServer returns a server on a free port with a directory of its own,
// not yet started, that is killed when the test ends.
func newServer(t testing.TB, opts *Options) *Server {
	s := &Server{t: t, Dir: t.TempDir(), bin: "redis-server"}
	if opts != nil {
		s.opts = *opts
	}
	s.port = freePort(t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	t.Cleanup(s.Kill)
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() {
	s.t.Helper()
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.Dir,
		"--save", "",
		"--protected-mode", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
		"--logfile", "redis.log",
	)
	if s.bin == "redis-server" {
		// A new replica syncs at once rather than after 5 s; a master
		// pings its replicas every second rather than every 10 s, so
		// that a replica's acknowledged offset soon shows that writes
		// reach it (see acked).
		args = append(args, "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1")
	}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	args = append(args, s.extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	s.exit = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exit)
	}()
	s.waitReady()
	if s.opts.Cluster {
		s.serveAllSlots()
	}
	if s.bin == "redis-sentinel" {
		s.shortenTilt()
	}
}

// logsOnFailure shows the servers' logs in the test's output if the test
// fails. Cleanups run last first, so this one, registered after the
// servers were created, runs before they are killed and their
// directories removed.
func logsOnFailure(t testing.TB, servers []*Server) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range servers {
				t.Logf("redistest: log of %s:\n%s", s, s.Log())
			}
		}
	})
}

// sentinelTiltPeriod is how long a sentinel stays in TILT mode in tests.
// A sentinel whose timer ran more than two seconds late (a process
// starved of CPU on a busy test machine) enters TILT and takes no action
// for the whole period, 30 seconds by default; if two of three sentinels
// do, a master killed meanwhile is not failed over for half a minute, and
// another late timer starts the period again. Five seconds are still
// five pings of every server, enough for a sentinel to see again what
// runs before it acts.
const sentinelTiltPeriod = 5 * time.Second

// shortenTilt sets the sentinel's TILT period to sentinelTiltPeriod
// (SENTINEL DEBUG, Redis 7 and later; an older sentinel keeps its own).
// It is set again at every start, since a sentinel does not keep it in
// its configuration file.
func (s *Server) shortenTilt() {
	s.t.Helper()
	err := s.admin().Do(context.Background(), "sentinel", "debug", "tilt-period", sentinelTiltPeriod.Milliseconds()).Err()
	if err != nil {
		s.t.Logf("redistest: %s keeps its TILT period: %v", s, err)
	}
}

func (s *Server) waitReady() {
	s.t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-s.exit:
			s.t.Fatalf("redistest: %s exited: %s", s, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: %s did not answer: %v", s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveAllSlots gives the server every slot (once; its nodes.conf keeps
// them over a restart) and waits until the cluster is up.
func (s *Server) serveAllSlots() {
	s.t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, "cluster", "addslotsrange", 0, 16383).Err(); err != nil && !strings.Contains(err.Error(), "busy") {
		s.t.Fatalf("redistest: cluster addslotsrange: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: cluster at %s did not come up: %q, %v", s.Addr, info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL and waits for it to exit. It does
// nothing if the server is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// admin returns the harness's own client of the server, which neither
// retries nor waits long, closed when the test ends.
func (s *Server) admin() *goredis.Client {
	s.adminOnce.Do(func() {
		s.adminC = goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1, PoolSize: 2,
			DialTimeout: time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
		s.t.Cleanup(func() { _ = s.adminC.Close() })
	})
	return s.adminC
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB, opts *goredis.Options) *goredis.Client {
	var o goredis.Options
	if opts != nil {
		o = *opts
	}
	o.Addr = s.Addr
	c := goredis.NewClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClusterClient returns a Cluster client of a server started with
// Options.Cluster, closed when the test ends.
func (s *Server) ClusterClient(t testing.TB, opts *goredis.ClusterOptions) *goredis.ClusterClient {
	var o goredis.ClusterOptions
	if opts != nil {
		o = *opts
	}
	o.Addrs = []string{s.Addr}
	c := goredis.NewClusterClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// String names the server's program and address.
func (s *Server) String() string { return fmt.Sprintf("%s at %s", s.bin, s.Addr) }

// Running reports whether the server's process is running: started, and
// neither killed nor exited.
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exit:
		return false
	default:
		return true
	}
}

// Log returns what the server wrote to its log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// Mini starts an in-process miniredis and returns it with a client; both
// are closed when the test ends.
func Mini(t testing.TB) (*miniredis.Miniredis, *goredis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	// miniredis runs scripts in Go, slowly under the race detector and a
	// full parallel suite: a generous read timeout keeps a slow reply from
	// being taken for a lost connection.
	c := goredis.NewClient(&goredis.Options{Addr: m.Addr(), ReadTimeout: time.Minute, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	return m, c
}
