package deploytest

import (
	"context"
	"errors"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
)

// TestWaitReplicasOnCluster: with WaitReplicas 1 on Cluster, an add
// waits on the master that took it, follows the MOVED reply of a master
// that handed its slots to its replica, and returns ErrNotDurable once
// the queue's master has no replica left.
func TestWaitReplicasOnCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, nil)
	store := open(t, c.Client(t, &goredis.ClusterOptions{PoolSize: 16}), &redis.Options{Prefix: "wait", WaitReplicas: 1})
	ctx := context.Background()
	add := func(id string) error {
		_, err := store.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{ID: id, Name: "n"}}})
		return err
	}
	if err := add("a"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	// The client's slot map still names the old master, which answers
	// MOVED.
	old := c.MasterOfKey(t, store.HashTag("q"))
	replica := c.ReplicasOf(t, old)[0]
	c.Failover(t, replica)
	if err := add("b"); err != nil {
		t.Fatalf("Add after CLUSTER FAILOVER: %v", err)
	}
	// The new master's only replica is the old master: without it, no
	// write of the queue lasts.
	old.Kill()
	err := add("c")
	if !errors.Is(err, redis.ErrNotDurable) || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Add without a replica = %v, want ErrNotDurable", err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if j, err := store.Job(ctx, "q", id); err != nil || j.State != backend.StateWaiting {
			t.Fatalf("job %s: %+v, %v", id, j, err)
		}
	}
}
