package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// SentinelOptions configure a Sentinel set-up.
type SentinelOptions struct {
	// Replicas is the number of replicas of the master; 0 means one.
	Replicas int
	// Sentinels is the number of redis-sentinel processes; 0 means three.
	Sentinels int
	// Quorum is the number of sentinels that must agree that the master
	// is down; 0 means two.
	Quorum int
	// DownAfter is how long the master may not answer before a sentinel
	// deems it down (down-after-milliseconds); 0 means three seconds,
	// long enough that a busy test machine does not make a sentinel miss
	// a live master's replies and fail it over.
	DownAfter time.Duration
	// FailoverTimeout is the sentinels' failover-timeout; 0 means five
	// seconds.
	FailoverTimeout time.Duration
	// AppendOnly turns on the data servers' append-only files, synced on
	// every write.
	AppendOnly bool
}

// Sentinel is a master, its replicas and the sentinels that watch them,
// all on loopback and owned by a test: every process is killed when the
// test ends.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
	// Servers are the data servers; Servers[0] was the first master.
	Servers []*Server
	// Sentinels are the redis-sentinel processes.
	Sentinels []*Server
}

// StartSentinel starts a master, its replicas and the sentinels, and
// waits until the replicas are in sync and every sentinel knows every
// replica and every other sentinel. Without redis-server and
// redis-sentinel on PATH the test is skipped, or fails if
// DROVER_REQUIRE_REDIS=1.
func StartSentinel(t testing.TB, opts *SentinelOptions) *Sentinel {
	t.Helper()
	require(t, "redis-server", "redis-sentinel")
	var o SentinelOptions
	if opts != nil {
		o = *opts
	}
	replicas, sentinels, quorum := o.Replicas, o.Sentinels, o.Quorum
	if replicas <= 0 {
		replicas = 1
	}
	if sentinels <= 0 {
		sentinels = 3
	}
	if quorum <= 0 {
		quorum = 2
	}
	downAfter, failoverTimeout := o.DownAfter, o.FailoverTimeout
	if downAfter <= 0 {
		downAfter = 3 * time.Second
	}
	if failoverTimeout <= 0 {
		failoverTimeout = 5 * time.Second
	}
	st := &Sentinel{MasterName: "drover"}
	master := newServer(t, &Options{AppendOnly: o.AppendOnly})
	master.start()
	st.Servers = append(st.Servers, master)
	host, port, _ := strings.Cut(master.Addr, ":")
	for range replicas {
		r := newServer(t, &Options{AppendOnly: o.AppendOnly})
		r.extra = []string{"--replicaof", host, port}
		r.start()
		st.Servers = append(st.Servers, r)
	}
	st.waitServers(t, master)
	// Each sentinel's configuration names the others and the replicas,
	// which sentinels would otherwise find out about only over seconds.
	ids := make([]string, sentinels)
	for i := range sentinels {
		ids[i] = fmt.Sprintf("%040x", rand.Uint64())
		s := newServer(t, nil)
		s.bin = "redis-sentinel"
		s.conf = filepath.Join(s.Dir, "sentinel.conf")
		st.Sentinels = append(st.Sentinels, s)
	}
	for i, s := range st.Sentinels {
		var conf strings.Builder
		fmt.Fprintf(&conf, "sentinel myid %s\n", ids[i])
		fmt.Fprintf(&conf, "sentinel monitor %s %s %s %d\n", st.MasterName, host, port, quorum)
		fmt.Fprintf(&conf, "sentinel down-after-milliseconds %s %d\n", st.MasterName, downAfter.Milliseconds())
		fmt.Fprintf(&conf, "sentinel failover-timeout %s %d\n", st.MasterName, failoverTimeout.Milliseconds())
		fmt.Fprintf(&conf, "sentinel parallel-syncs %s 1\n", st.MasterName)
		for _, r := range st.Servers[1:] {
			h, p, _ := strings.Cut(r.Addr, ":")
			fmt.Fprintf(&conf, "sentinel known-replica %s %s %s\n", st.MasterName, h, p)
		}
		for k, o := range st.Sentinels {
			if k != i {
				h, p, _ := strings.Cut(o.Addr, ":")
				fmt.Fprintf(&conf, "sentinel known-sentinel %s %s %s %s\n", st.MasterName, h, p, ids[k])
			}
		}
		if err := os.WriteFile(s.conf, []byte(conf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		s.start()
	}
	logsOnFailure(t, st.Sentinels)
	st.WaitMaster(t, nil)
	return st
}

// SentinelAddrs returns the sentinels' addresses.
func (st *Sentinel) SentinelAddrs() []string { return addrsOf(st.Sentinels) }

// Client returns a failover client that finds the master through the
// sentinels, closed when the test ends.
func (st *Sentinel) Client(t testing.TB, opts *goredis.FailoverOptions) *goredis.Client {
	var o goredis.FailoverOptions
	if opts != nil {
		o = *opts
	}
	o.MasterName, o.SentinelAddrs = st.MasterName, st.SentinelAddrs()
	c := goredis.NewFailoverClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (st *Sentinel) byAddr(addr string) *Server {
	for _, s := range st.Servers {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// agreed reports the master every running sentinel names, or why there
// is none: they disagree, or name a server that does not run or does
// not say it is a master, or one of that master's replicas that runs is
// not yet known to a sentinel.
func (st *Sentinel) agreed(ctx context.Context) (*Server, string) {
	var master *Server
	for _, s := range st.Sentinels {
		if !s.Running() {
			continue
		}
		addr, err := s.admin().Do(ctx, "sentinel", "get-master-addr-by-name", st.MasterName).StringSlice()
		if err != nil || len(addr) != 2 {
			return nil, fmt.Sprintf("%s: %v %v", s, addr, err)
		}
		m := st.byAddr(addr[0] + ":" + addr[1])
		switch {
		case m == nil:
			return nil, fmt.Sprintf("%s names unknown master %v", s, addr)
		case master != nil && m != master:
			return nil, fmt.Sprintf("sentinels name %s and %s", master, m)
		}
		master = m
	}
	if master == nil {
		return nil, "no sentinel runs"
	}
	if !master.Running() {
		return nil, fmt.Sprintf("the sentinels name %s, which does not run", master)
	}
	if why := master.role(ctx, "master"); why != "" {
		return nil, why
	}
	return master, ""
}

// role reports why the server does not have role ("master" or "slave"),
// or "" if it has; a replica must also be in sync with its master.
func (s *Server) role(ctx context.Context, role string) string {
	repl, err := s.admin().Info(ctx, "replication").Result()
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", s, err)
	case !strings.Contains(repl, "role:"+role):
		return fmt.Sprintf("%s is not a %s", s, role)
	case role == "slave" && (!strings.Contains(repl, "master_link_status:up") || !strings.Contains(repl, "master_sync_in_progress:0")):
		return fmt.Sprintf("%s is not in sync with its master", s)
	}
	return ""
}

// acked reports why master m does not yet count replica r for WAIT, or
// "" when it does: m lists r online with an acknowledged offset. After a
// full sync a replica acknowledges (and the master streams writes to it)
// only about a second later, so a WAIT just after it would time out.
func acked(ctx context.Context, m, r *Server) string {
	repl, err := m.admin().Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Sprintf("%s: %v", m, err)
	}
	for _, line := range strings.Split(repl, "\r\n") {
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, ",port="+strconv.Itoa(r.port)+",") {
			continue
		}
		_, off, _ := strings.Cut(line, "offset=")
		off, _, _ = strings.Cut(off, ",")
		if n, _ := strconv.ParseInt(off, 10, 64); strings.Contains(line, "state=online") && n > 0 {
			return ""
		}
	}
	return fmt.Sprintf("%s has no acknowledgement from its replica %s yet", m, r)
}

// masterPort returns the port of the master that replica s replicates.
func (s *Server) masterPort(ctx context.Context) int {
	repl, _ := s.admin().Info(ctx, "replication").Result()
	_, port, _ := strings.Cut(repl, "master_port:")
	port, _, _ = strings.Cut(port, "\r")
	n, _ := strconv.Atoi(port)
	return n
}

// replicasOf returns the running servers of nodes that say they
// replicate master m.
func replicasOf(t testing.TB, nodes []*Server, m *Server) []*Server {
	t.Helper()
	var out []*Server
	for _, s := range nodes {
		if s == m || !s.Running() {
			continue
		}
		if s.role(context.Background(), "slave") == "" && s.masterPort(context.Background()) == m.port {
			out = append(out, s)
		}
	}
	return out
}

// waitServers waits until every running server but master is a replica
// in sync with master.
func (st *Sentinel) waitServers(t testing.TB, master *Server) {
	t.Helper()
	ctx := context.Background()
	Poll(t, "the replicas to be in sync", func() string {
		for _, s := range st.Servers {
			if s == master || !s.Running() {
				continue
			}
			if why := s.role(ctx, "slave"); why != "" {
				return why
			}
			if s.masterPort(ctx) != master.port {
				return fmt.Sprintf("%s replicates another master", s)
			}
			if why := acked(ctx, master, s); why != "" {
				return why
			}
		}
		return ""
	})
}

// WaitMaster waits until every running sentinel names the same master,
// other than old (if not nil), which runs and says it is a master; every
// other running server is its replica and in sync; and each sentinel
// knows each of those replicas and every other running sentinel, so that
// it can fail over again. It returns the master.
func (st *Sentinel) WaitMaster(t testing.TB, old *Server) *Server {
	t.Helper()
	ctx := context.Background()
	var master *Server
	Poll(t, "the sentinels to agree on a master", func() string {
		m, why := st.agreed(ctx)
		switch {
		case why != "":
			return why
		case m == old:
			return fmt.Sprintf("the sentinels still name %s", old)
		}
		master = m
		return ""
	})
	st.waitServers(t, master)
	running := 0
	for _, s := range st.Sentinels {
		if s.Running() {
			running++
		}
	}
	Poll(t, "the sentinels to know every replica and each other", func() string {
		for _, s := range st.Sentinels {
			if !s.Running() {
				continue
			}
			reps, err := s.admin().Do(ctx, "sentinel", "replicas", st.MasterName).Slice()
			if err != nil {
				return fmt.Sprintf("%s: %v", s, err)
			}
			known := 0
			for _, r := range reps {
				if flags := field(r, "flags"); !strings.Contains(flags, "down") && !strings.Contains(flags, "disconnected") {
					if rs := st.byAddr(field(r, "ip") + ":" + field(r, "port")); rs != nil && rs != master && rs.Running() {
						known++
					}
				}
			}
			want := 0
			for _, r := range st.Servers {
				if r != master && r.Running() {
					want++
				}
			}
			if known != want {
				return fmt.Sprintf("%s knows %d of %d replicas", s, known, want)
			}
			others, err := s.admin().Do(ctx, "sentinel", "sentinels", st.MasterName).Slice()
			if err != nil {
				return fmt.Sprintf("%s: %v", s, err)
			}
			if len(others) < running-1 {
				return fmt.Sprintf("%s knows %d of the %d other sentinels", s, len(others), running-1)
			}
		}
		return ""
	})
	return master
}

// Master returns the master the sentinels agree on, failing the test if
// they do not.
func (st *Sentinel) Master(t testing.TB) *Server {
	t.Helper()
	m, why := st.agreed(context.Background())
	if why != "" {
		t.Fatalf("redistest: no master: %s", why)
	}
	return m
}

// field returns a field of a SENTINEL REPLICAS entry: a flat list of
// names and values (RESP2) or a map (RESP3).
func field(entry any, name string) string {
	switch e := entry.(type) {
	case []any:
		for i := 0; i+1 < len(e); i += 2 {
			if fmt.Sprint(e[i]) == name {
				return fmt.Sprint(e[i+1])
			}
		}
	case map[any]any:
		return fmt.Sprint(e[name])
	case map[string]any:
		return fmt.Sprint(e[name])
	}
	return ""
}

// stableWait bounds the waits for a cluster or Sentinel set-up to settle.
// It is generous for slow -race runs.
const stableWait = time.Minute

// Poll calls cond until it returns "", failing the test with what it
// last returned after a minute: for waits on what servers do, generous
// for slow -race runs.
func Poll(t testing.TB, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(stableWait)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: waiting for %s: %s", what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
