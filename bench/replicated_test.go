package bench

import (
	"context"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
)

// BenchmarkWaitReplicas measures what redis.Options.WaitReplicas costs:
// adds (one after the other, and from 50 producers) and processing (one
// worker of concurrency 50), behind Sentinel with one replica, waiting
// for no replica and for one. One op is one job.
func BenchmarkWaitReplicas(b *testing.B) {
	st := redistest.StartSentinel(b, nil)
	for _, wait := range []int{0, 1} {
		open := func(b *testing.B) *env {
			c := st.Client(b, &goredis.FailoverOptions{PoolSize: 128, MinIdleConns: 8})
			if err := c.FlushAll(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			s, err := redis.New(c, &redis.Options{Logger: quiet, WaitReplicas: wait})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return &env{kind: "redis", store: s, rdb: c}
		}
		b.Run(fmt.Sprintf("wait=%d/add/sequential", wait), func(b *testing.B) { addSequential(b, open(b)) })
		b.Run(fmt.Sprintf("wait=%d/add/producers=50", wait), func(b *testing.B) {
			q := open(b).queue(b, "add")
			b.ResetTimer()
			produce(b, q, 50, b.N)
			b.StopTimer()
			reportRate(b, b.N, "jobs/s")
		})
		b.Run(fmt.Sprintf("wait=%d/process/workers=1x50", wait), func(b *testing.B) { process(b, open(b), 1) })
	}
}
