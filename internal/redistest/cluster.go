package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ClusterOptions configure a Redis Cluster.
type ClusterOptions struct {
	// Masters is the number of masters; 0 means three.
	Masters int
	// Replicas is the number of replicas of each master; 0 means one.
	Replicas int
	// AppendOnly turns on each node's append-only file, synced on every
	// write.
	AppendOnly bool
	// NodeTimeout is the cluster-node-timeout: how long a node may not
	// answer before the others fail it over. 0 means three seconds, long
	// enough that a busy test machine does not make the nodes fail a live
	// master over.
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster of redis-server processes on loopback, owned
// by a test: every process is killed when the test ends.
type Cluster struct {
	// Nodes are the cluster's servers, in the order they were created;
	// which of them are masters changes with failovers (see Masters).
	Nodes []*Server

	t           testing.TB
	ids         map[*Server]string // node IDs
	nodeTimeout time.Duration
}

// StartCluster starts a cluster and waits until every node says the
// cluster is ok and every replica is in sync with its master. Without
// redis-server and redis-cli on PATH the test is skipped, or fails if
// DROVER_REQUIRE_REDIS=1.
func StartCluster(t testing.TB, opts *ClusterOptions) *Cluster {
	t.Helper()
	require(t, "redis-server", "redis-cli")
	var o ClusterOptions
	if opts != nil {
		o = *opts
	}
	masters, replicas := max(o.Masters, 0), max(o.Replicas, 0)
	if masters == 0 {
		masters = 3
	}
	if replicas == 0 {
		replicas = 1
	}
	timeout := o.NodeTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	c := &Cluster{t: t, ids: map[*Server]string{}, nodeTimeout: timeout}
	addrs := make([]string, 0, masters*(1+replicas))
	for range masters * (1 + replicas) {
		s := newServer(t, &Options{AppendOnly: o.AppendOnly})
		s.extra = []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			// The bus port is chosen too: the default, port+10000,
			// may be taken or past 65535.
			"--cluster-port", strconv.Itoa(freePort(t)),
			"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
			// A replica may take over however long its link was down,
			// so that a test's failover does not depend on timing.
			"--cluster-replica-validity-factor", "0",
		}
		s.start()
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr)
	}
	ctx := context.Background()
	for _, s := range c.Nodes {
		id, err := s.admin().Do(ctx, "cluster", "myid").Text()
		if err != nil {
			t.Fatalf("redistest: cluster myid of %s: %v", s, err)
		}
		c.ids[s] = id
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	logsOnFailure(t, c.Nodes)
	c.WaitStable(t)
	return c
}

// Addrs returns the addresses of every node.
func (c *Cluster) Addrs() []string { return addrsOf(c.Nodes) }

func addrsOf(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr
	}
	return out
}

// Client returns a Cluster client of every node, closed when the test
// ends.
func (c *Cluster) Client(t testing.TB, opts *goredis.ClusterOptions) *goredis.ClusterClient {
	var o goredis.ClusterOptions
	if opts != nil {
		o = *opts
	}
	o.Addrs = c.Addrs()
	cc := goredis.NewClusterClient(&o)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// ID returns a node's cluster node ID.
func (c *Cluster) ID(s *Server) string { return c.ids[s] }

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	addr  string
	flags []string
	slots [][2]int // ranges, both ends included
}

func (n *clusterNode) is(flag string) bool { return slices.Contains(n.flags, flag) }

// nodesOf returns the cluster as node s sees it.
func nodesOf(ctx context.Context, s *Server) ([]clusterNode, error) {
	text, err := s.admin().ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{addr: addr, flags: strings.Split(f[2], ",")}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated or imported
			}
			lo, hi, ok := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if ok {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("CLUSTER NODES slots %q", r)
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out, nil
}

// byAddr returns the node of the cluster with address addr.
func (c *Cluster) byAddr(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// slotMap returns, as node s sees it, the address of the master of each
// of the 16384 slots ("" for a slot nobody serves).
func slotMap(ctx context.Context, s *Server) ([]string, error) {
	nodes, err := nodesOf(ctx, s)
	if err != nil {
		return nil, err
	}
	m := make([]string, 16384)
	for _, n := range nodes {
		if !n.is("master") || n.is("fail") {
			continue
		}
		for _, r := range n.slots {
			for i := r[0]; i <= r[1]; i++ {
				m[i] = n.addr
			}
		}
	}
	return m, nil
}

// stable reports why the cluster is not yet stable, or "" when it is:
// every running node says cluster_state:ok, they all agree on the master
// of every slot, that master runs and says it is a master, and every
// running replica has its link to its master up and no sync under way.
func (c *Cluster) stable(ctx context.Context) string {
	var agreed []string
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		info, err := s.admin().ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Sprintf("%s: %v", s, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Sprintf("%s: cluster state not ok", s)
		}
		m, err := slotMap(ctx, s)
		if err != nil {
			return fmt.Sprintf("%s: %v", s, err)
		}
		if agreed == nil {
			agreed = m
		} else if !slices.Equal(agreed, m) {
			return fmt.Sprintf("%s sees another slot map", s)
		}
	}
	if agreed == nil {
		return "no node runs"
	}
	for slot, addr := range agreed {
		m := c.byAddr(addr)
		if m == nil || !m.Running() {
			return fmt.Sprintf("slot %d is served by %q, which does not run", slot, addr)
		}
	}
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		role := "slave"
		if slices.Contains(agreed, s.Addr) {
			role = "master"
		}
		if why := s.role(ctx, role); why != "" {
			return why
		}
		if role == "slave" {
			m := c.byAddr("127.0.0.1:" + strconv.Itoa(s.masterPort(ctx)))
			if m == nil || !slices.Contains(agreed, m.Addr) {
				return fmt.Sprintf("%s replicates no master that serves slots", s)
			}
			if why := acked(ctx, m, s); why != "" {
				return why
			}
		}
	}
	return ""
}

// WaitStable waits until the running nodes agree on the master of every
// slot, each of those masters runs, every running node says the cluster
// is ok, and every running replica is in sync with its master.
func (c *Cluster) WaitStable(t testing.TB) {
	t.Helper()
	c.waitSlots(t, func([]string) string { return "" })
}

// Masters returns the masters that serve slots, as the first running node
// sees them, in the order of Nodes.
func (c *Cluster) Masters(t testing.TB) []*Server {
	t.Helper()
	m := c.slotMap(t)
	var out []*Server
	for _, s := range c.Nodes {
		if slices.Contains(m, s.Addr) {
			out = append(out, s)
		}
	}
	return out
}

func (c *Cluster) slotMap(t testing.TB) []string {
	t.Helper()
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		m, err := slotMap(context.Background(), s)
		if err != nil {
			t.Fatalf("redistest: slots of %s: %v", s, err)
		}
		return m
	}
	t.Fatal("redistest: no node of the cluster runs")
	return nil
}

// MasterOf returns the master of slot, as the first running node sees it.
func (c *Cluster) MasterOf(t testing.TB, slot int) *Server {
	t.Helper()
	return c.byAddr(c.slotMap(t)[slot])
}

// MasterOfKey returns the master of key's slot.
func (c *Cluster) MasterOfKey(t testing.TB, key string) *Server {
	t.Helper()
	return c.MasterOf(t, Slot(key))
}

// ReplicasOf returns the running nodes that say they replicate master m.
func (c *Cluster) ReplicasOf(t testing.TB, m *Server) []*Server {
	t.Helper()
	return replicasOf(t, c.Nodes, m)
}

// Failover makes replica take over from its master with CLUSTER
// FAILOVER (the master hands over after the replica has caught up, so
// nothing acknowledged is lost) and waits until the cluster is stable
// with replica a master.
//
// A manual failover that has not ended five seconds after it was asked
// for is given up by the replica, silently: on a busy machine the
// hand-over or the election can take longer. So it is asked for again
// while the replica is not a master, once the attempt before has been
// given up and its votes may be cast again (manualFailoverRetry).
func (c *Cluster) Failover(t testing.TB, replica *Server) {
	t.Helper()
	ctx := context.Background()
	var asked time.Time
	Poll(t, "the cluster", func() string {
		if time.Since(asked) > c.manualFailoverRetry() && replica.role(ctx, "master") != "" {
			if err := replica.admin().Do(ctx, "cluster", "failover").Err(); err != nil {
				return fmt.Sprintf("cluster failover on %s: %v", replica, err)
			}
			asked = time.Now()
		}
		if why := c.stable(ctx); why != "" {
			return why
		}
		if !slices.Contains(c.slotMap(t), replica.Addr) {
			return fmt.Sprintf("%s serves no slot", replica)
		}
		return ""
	})
}

// manualFailoverRetry is how long Failover waits before it asks again for
// a manual failover: longer than the five seconds after which a replica
// gives one up, and than the two node timeouts during which the masters
// that voted for it vote for no other attempt.
func (c *Cluster) manualFailoverRetry() time.Duration {
	return max(5*time.Second, 2*c.nodeTimeout) + time.Second
}

// MoveSlot moves slot, with its keys, from its master to master to, as
// redis-cli --cluster reshard does: the target imports the slot and the
// source migrates it, MIGRATE moves its keys a batch at a time (meanwhile
// the source answers ASK or TRYAGAIN for keys it no longer has), and then
// every master learns the slot's new owner. It waits until the cluster is
// stable.
func (c *Cluster) MoveSlot(t testing.TB, slot int, to *Server) {
	t.Helper()
	ctx := context.Background()
	from := c.MasterOf(t, slot)
	if from == to {
		t.Fatalf("redistest: slot %d is on %s already", slot, to)
	}
	do := func(s *Server, args ...any) any {
		t.Helper()
		v, err := s.admin().Do(ctx, args...).Result()
		if err != nil {
			t.Fatalf("redistest: %v on %s: %v", args, s, err)
		}
		return v
	}
	do(to, "cluster", "setslot", slot, "importing", c.ids[from])
	do(from, "cluster", "setslot", slot, "migrating", c.ids[to])
	host, port, _ := strings.Cut(to.Addr, ":")
	for {
		keys, _ := do(from, "cluster", "getkeysinslot", slot, 100).([]any)
		if len(keys) == 0 {
			break
		}
		args := append([]any{"migrate", host, port, "", 0, 10000, "keys"}, keys...)
		do(from, args...)
	}
	// The new owner first, then the old one, then the others.
	do(to, "cluster", "setslot", slot, "node", c.ids[to])
	do(from, "cluster", "setslot", slot, "node", c.ids[to])
	for _, m := range c.Masters(t) {
		if m != to && m != from {
			do(m, "cluster", "setslot", slot, "node", c.ids[to])
		}
	}
	c.waitSlots(t, func(m []string) string {
		if m[slot] != to.Addr {
			return fmt.Sprintf("slot %d is not yet on %s", slot, to)
		}
		return ""
	})
}

// WaitFailedOver waits until another node than old (a master that was
// stopped, say) serves slot and the cluster is stable, and returns that
// node.
func (c *Cluster) WaitFailedOver(t testing.TB, old *Server, slot int) *Server {
	t.Helper()
	m := c.waitSlots(t, func(m []string) string {
		if m[slot] == old.Addr {
			return fmt.Sprintf("%s still serves slot %d", old, slot)
		}
		return ""
	})
	return c.byAddr(m[slot])
}

// waitSlots waits until the cluster is stable and cond, given the slot
// map, returns ""; it returns the slot map.
func (c *Cluster) waitSlots(t testing.TB, cond func(m []string) string) []string {
	t.Helper()
	var m []string
	Poll(t, "the cluster", func() string {
		if why := c.stable(context.Background()); why != "" {
			return why
		}
		m = c.slotMap(t)
		return cond(m)
	})
	return m
}

// Slot returns the Redis Cluster slot of key: CRC16 of its hash tag (the
// text between the first "{" and the next "}", if not empty) or of the
// whole key, modulo 16384.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % 16384)
}

// crc16 is CRC16-CCITT (XMODEM), the checksum of Redis Cluster slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
