package redistest

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t, &Options{AppendOnly: true})
	c := s.Client(t, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("after restart: %q, %v; want v", got, err)
	}
}

func TestMini(t *testing.T) {
	_, c := Mini(t)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestCluster(t *testing.T) {
	s := Start(t, &Options{Cluster: true})
	c := s.ClusterClient(t, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Keys of two slots in one command are refused.
	if err := s.Client(t, nil).MGet(ctx, "a", "b").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MGET across slots: %v, want CROSSSLOT", err)
	}
	// A restarted server serves every slot again.
	s.Restart()
	if err := c.Set(ctx, "a", "2", 0).Err(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestSlot(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{"123456789": 12739, "foo": 12182, "{user1000}.following": Slot("user1000")} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestThreeMasterCluster starts a cluster of three masters with a replica
// each, hands one master's slots to its replica, kills another master
// and restarts it: every key written before stays readable through a
// Cluster client, and the cluster ends with three masters again.
func TestThreeMasterCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, nil)
	ctx := context.Background()
	if n := len(c.Masters(t)); n != 3 {
		t.Fatalf("%d masters, want 3", n)
	}
	for _, m := range c.Masters(t) {
		if r := c.ReplicasOf(t, m); len(r) != 1 {
			t.Fatalf("master %s has replicas %v, want one", m, r)
		}
	}
	cc := c.Client(t, nil)
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "{}x", "foo{}{bar}", "{user1000}.following"}
	for _, k := range keys {
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
		// Its slot as CLUSTER KEYSLOT says, on the node Slot names.
		if got, err := cc.ClusterKeySlot(ctx, k).Result(); err != nil || int(got) != Slot(k) {
			t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; Slot says %d", k, got, err, Slot(k))
		}
	}
	// check polls: the client finds out about a failover from a MOVED
	// reply, or when it reloads the slot map (only every minute by
	// default, so it is asked to after each failed try).
	check := func(when string) {
		t.Helper()
		Poll(t, when, func() string {
			for _, k := range keys {
				if v, err := cc.Get(ctx, k).Result(); err != nil || v != k {
					cc.ReloadState(ctx)
					return fmt.Sprintf("GET %s = %q, %v", k, v, err)
				}
			}
			return ""
		})
	}

	// A replica takes over with CLUSTER FAILOVER: the old master serves
	// no slot and is its replica.
	old := c.MasterOfKey(t, "a")
	r := c.ReplicasOf(t, old)[0]
	c.Failover(t, r)
	if m := c.MasterOfKey(t, "a"); m != r {
		t.Fatalf("after the failover %s serves a, want %s", m, r)
	}
	if got := c.ReplicasOf(t, r); len(got) != 1 || got[0] != old {
		t.Fatalf("after the failover %s has replicas %v, want %s", r, got, old)
	}
	check("after CLUSTER FAILOVER")

	// A killed master is replaced by its replica; restarted, it comes
	// back as that replica's replica.
	killed := c.MasterOfKey(t, "b")
	killed.Kill()
	m := c.WaitFailedOver(t, killed, Slot("b"))
	if m == killed || m == nil {
		t.Fatalf("slot of b served by %v after the kill", m)
	}
	check("after a master was killed")
	killed.Restart()
	c.WaitStable(t)
	if got := c.ReplicasOf(t, m); len(got) != 1 || got[0] != killed {
		t.Fatalf("after the restart %s has replicas %v, want %s", m, got, killed)
	}
	if n := len(c.Masters(t)); n != 3 {
		t.Fatalf("%d masters after the restart, want 3", n)
	}
	check("after the killed master came back")

	// A slot moved to another master takes its keys along.
	from := c.MasterOfKey(t, "c")
	var to *Server
	for _, m := range c.Masters(t) {
		if m != from {
			to = m
		}
	}
	c.MoveSlot(t, Slot("c"), to)
	if m := c.MasterOfKey(t, "c"); m != to {
		t.Fatalf("after the move %s serves c, want %s", m, to)
	}
	check("after a slot moved")
}

// TestSentinelFailover starts a master, a replica and three sentinels,
// kills the master, and checks that a failover client reaches the
// promoted replica, which has every key, and that the old master comes
// back as its replica.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	start := time.Now()
	st := StartSentinel(t, nil)
	t.Logf("started in %s", time.Since(start))
	ctx := context.Background()
	old := st.Master(t)
	if old != st.Servers[0] {
		t.Fatalf("master %s, want %s", old, st.Servers[0])
	}
	c := st.Client(t, nil)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// WAIT: the write reached the replica before the master dies.
	if n, err := c.Wait(ctx, 1, 10*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	start = time.Now()
	old.Kill()
	m := st.WaitMaster(t, old)
	t.Logf("failed over in %s", time.Since(start))
	if m != st.Servers[1] {
		t.Fatalf("new master %s, want %s", m, st.Servers[1])
	}
	Poll(t, "the failover client to reach the new master", func() string {
		v, err := c.Get(ctx, "k").Result()
		if err != nil || v != "v" {
			return fmt.Sprintf("GET k = %q, %v", v, err)
		}
		if err := c.Set(ctx, "k2", "v2", 0).Err(); err != nil {
			return err.Error()
		}
		return ""
	})
	start = time.Now()
	old.Restart()
	if got := st.WaitMaster(t, nil); got != m {
		t.Fatalf("after the restart the master is %s, want %s", got, m)
	}
	if why := old.role(ctx, "slave"); why != "" {
		t.Fatal(why)
	}
	t.Logf("old master back as a replica in %s", time.Since(start))
}

// TestSentinelStarvedSentinelsStillFailOver freezes two of the three
// sentinels for longer than their TILT trigger, as a starved process on
// a busy machine is, and then kills the master: the sentinels leave TILT
// after the short period redistest gives them, also a sentinel started
// again, and fail the master over.
func TestSentinelStarvedSentinelsStillFailOver(t *testing.T) {
	t.Parallel()
	st := StartSentinel(t, nil)
	ctx := context.Background()
	st.Sentinels[2].Restart()
	for _, s := range st.Sentinels {
		v, err := s.admin().Do(ctx, "sentinel", "debug").Result()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := field(v, "TILT-PERIOD"), fmt.Sprint(sentinelTiltPeriod.Milliseconds()); got != want {
			t.Fatalf("%s: TILT-PERIOD %q, want %s", s, got, want)
		}
	}
	old := st.Master(t)
	frozen := st.Sentinels[:2]
	for _, s := range frozen {
		if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2500 * time.Millisecond) // past the 2 s TILT trigger
	for _, s := range frozen {
		if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range frozen {
		Poll(t, "the frozen sentinels to enter TILT", func() string {
			info, err := s.admin().Info(ctx, "sentinel").Result()
			if err != nil || !strings.Contains(info, "sentinel_tilt:1") {
				return fmt.Sprintf("%s is not in TILT: %v", s, err)
			}
			return ""
		})
	}
	old.Kill()
	if m := st.WaitMaster(t, old); m == old {
		t.Fatalf("master still %s", m)
	}
}

// TestClusterManualFailoverOutlastsFrozenVoters asks a replica to take
// over while the other two masters, whose votes it needs, are frozen for
// longer than a manual failover may take, as starved processes on a busy
// machine are: the replica gives that failover up, and Failover asks for
// another, which succeeds once they run again.
func TestClusterManualFailoverOutlastsFrozenVoters(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, nil)
	old := c.MasterOfKey(t, "a")
	r := c.ReplicasOf(t, old)[0]
	var voters []*Server
	for _, m := range c.Masters(t) {
		if m != old {
			voters = append(voters, m)
		}
	}
	for _, v := range voters {
		if err := v.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	thawed := make(chan struct{})
	go func() {
		defer close(thawed)
		time.Sleep(6 * time.Second) // past the 5 s a manual failover may take
		for _, v := range voters {
			_ = v.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	c.Failover(t, r)
	<-thawed
	if m := c.MasterOfKey(t, "a"); m != r {
		t.Fatalf("after the failover %s serves a, want %s", m, r)
	}
}
