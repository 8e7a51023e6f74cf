package e2e

import (
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
)

// TestRedisCluster runs the Redis tests of worker, producer, event
// reader and scheduler processes on a Cluster of three masters with a
// replica each, one after the other (the dispatch test counts the
// clients blocked on its queue's master), each with a key prefix of its
// own, so that their queues are on different masters.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, nil)
	on := func(t *testing.T) (addr, prefix string, store *redis.Backend, cluster bool) {
		t.Helper()
		client := c.Client(t, &goredis.ClusterOptions{PoolSize: 16})
		prefix = fmt.Sprintf("e2e-%s", t.Name())
		store, err := redis.New(client, &redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return c.Nodes[0].Addr, prefix, store, true
	}
	for _, tc := range []struct {
		name string
		test func(*testing.T, deployment)
	}{
		{"CancelReachesAHandlerInAnotherProcess", testCancelReachesAHandlerInAnotherProcess},
		{"BulkStartsEveryIdleWorkerProcess", testBulkStartsEveryIdleWorkerProcess},
		{"RandomBulksAcrossWorkerProcesses", testRandomBulksAcrossWorkerProcesses},
		{"EventsResumeInNewProcess", testEventsResumeInNewProcess},
		{"FlowChildWorkerKilled", testFlowChildWorkerKilled},
		{"SchedulerUpsertFromProcesses", testSchedulerUpsertFromProcesses},
		{"WorkerKilledMidJob", testWorkerKilledMidJob},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, on) })
	}
}
