package deploytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
)

// Each failover test runs two loads through the same fault, on queues of
// the master that fails: one with the default options, one with
// WaitReplicas 1. Every acknowledged add of the second must complete;
// the first may lose the writes a killed master had not passed on, which
// the test reports.

// clusterLoads starts a Cluster and the two loads on queues of one
// master, with producers that repeat failed adds if retry is set, and
// returns the cluster, that master and the loads.
func clusterLoads(t *testing.T, retry bool) (*redistest.Cluster, *redistest.Server, []*load) {
	c := redistest.StartCluster(t, nil)
	r := &redirects{}
	t.Cleanup(func() { t.Logf("replies to the loads' clients: %s", r) })
	newClient := func() goredis.UniversalClient {
		cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 8})
		cc.OnNewNode(func(n *goredis.Client) { n.AddHook(r) })
		return cc
	}
	const prefix = "fo"
	tag := func(q string) string { return "{" + prefix + ":" + q + "}" }
	victim := c.MasterOfKey(t, tag("plain"))
	durable := ""
	for i := 0; durable == ""; i++ {
		if q := fmt.Sprintf("durable-%d", i); c.MasterOfKey(t, tag(q)) == victim {
			durable = q
		}
	}
	loads := []*load{
		{name: "default options", queue: "plain", opts: redis.Options{Prefix: prefix}, newClient: newClient, retry: retry},
		{name: "WaitReplicas 1", queue: durable, opts: redis.Options{Prefix: prefix, WaitReplicas: 1}, newClient: newClient, retry: retry},
	}
	for _, l := range loads {
		startLoad(t, l, 2, 2)
	}
	return c, victim, loads
}

// finishLoads lets each load run on after the fault that began at start,
// then stops it and checks and reports what became of its jobs.
func finishLoads(t *testing.T, loads []*load, start time.Time, lostWrites int, graceful bool) []report {
	var reps []report
	for _, l := range loads {
		l.waitProgress(200)
		stopped, resumed := l.pause(start)
		rep := l.finish(lostWrites)
		t.Logf("%s: %s; work stopped for %s and resumed %s after the fault began", l.name, rep,
			stopped.Round(time.Millisecond), resumed.Round(time.Millisecond))
		if len(rep.lost) > 0 {
			t.Logf("%s: lost jobs, such as %v", l.name, rep.lost[:min(len(rep.lost), 5)])
		}
		l.check(rep, graceful || l.opts.WaitReplicas > 0)
		reps = append(reps, rep)
	}
	return reps
}

// TestClusterFailoverUnderLoad hands a master's slots to its replica with
// CLUSTER FAILOVER while producers and workers use them. The master hands
// over only once the replica has caught up, so no acknowledged write is
// lost, with or without WaitReplicas, and a job runs again only after a
// recovery as stalled.
func TestClusterFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	c, victim, loads := clusterLoads(t, false)
	replica := c.ReplicasOf(t, victim)[0]
	start := time.Now()
	c.Failover(t, replica)
	t.Logf("CLUSTER FAILOVER took %s", time.Since(start).Round(time.Millisecond))
	finishLoads(t, loads, start, 0, true)
}

// TestClusterMasterKilledUnderLoad kills a master with SIGKILL while
// producers and workers use it; its replica takes over, and the killed
// master comes back as the new master's replica (until then no write
// with WaitReplicas 1 lasts, and those calls fail).
func TestClusterMasterKilledUnderLoad(t *testing.T) {
	t.Parallel()
	c, victim, loads := clusterLoads(t, false)
	slot := redistest.Slot("{fo:plain}")
	start := time.Now()
	victim.Kill()
	c.WaitFailedOver(t, victim, slot)
	t.Logf("the replica took over %s after the kill", time.Since(start).Round(time.Millisecond))
	victim.Restart()
	c.WaitStable(t)
	t.Logf("the killed master was back as a replica %s after the kill", time.Since(start).Round(time.Millisecond))
	finishLoads(t, loads, start, 1, false)
}

// TestSentinelMasterKilledUnderLoad kills the master behind Sentinel with
// SIGKILL while producers and workers use it; the sentinels promote the
// replica, and the killed master comes back as its replica.
func TestSentinelMasterKilledUnderLoad(t *testing.T) {
	t.Parallel()
	st := redistest.StartSentinel(t, nil)
	newClient := func() goredis.UniversalClient {
		return goredis.NewFailoverClient(&goredis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: st.SentinelAddrs(), PoolSize: 8})
	}
	loads := []*load{
		{name: "default options", queue: "plain", opts: redis.Options{Prefix: "fo"}, newClient: newClient},
		{name: "WaitReplicas 1", queue: "durable", opts: redis.Options{Prefix: "fo", WaitReplicas: 1}, newClient: newClient},
	}
	for _, l := range loads {
		startLoad(t, l, 2, 2)
	}
	old := st.Master(t)
	start := time.Now()
	old.Kill()
	st.WaitMaster(t, old)
	t.Logf("the sentinels promoted the replica %s after the kill", time.Since(start).Round(time.Millisecond))
	old.Restart()
	st.WaitMaster(t, nil)
	t.Logf("the killed master was back as a replica %s after the kill", time.Since(start).Round(time.Millisecond))
	finishLoads(t, loads, start, 1, false)
}

// redirects counts the MOVED, ASK, TRYAGAIN and CLUSTERDOWN replies that
// Cluster nodes gave, which the Cluster client and the store handle
// without the caller seeing them.
type redirects struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *redirects) count(err error) {
	if err == nil {
		return
	}
	word, _, _ := strings.Cut(err.Error(), " ")
	switch word {
	case "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN":
		r.mu.Lock()
		if r.n == nil {
			r.n = map[string]int{}
		}
		r.n[word]++
		r.mu.Unlock()
	}
}

func (r *redirects) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.n)
}

func (r *redirects) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (r *redirects) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		r.count(err)
		return err
	}
}

func (r *redirects) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			r.count(c.Err())
		}
		return err
	}
}
