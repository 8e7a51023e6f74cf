package redis

import (
	"context"
	"strconv"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// BenchmarkClusterScripts compares, on a Cluster of three masters, the
// store's scripts run with EVALSHA (what the store does on Cluster) and
// as the function library loaded on every master (FCALL): single-job
// adds one after the other, and a lease and a settle of one job. One op
// is one job; server-µs/op is the CPU time of the masters.
func BenchmarkClusterScripts(b *testing.B) {
	c := redistest.StartCluster(b, nil)
	cc := c.Client(b, &goredis.ClusterOptions{PoolSize: 64})
	ctx := context.Background()
	for _, mode := range []string{"evalsha", "fcall"} {
		open := func(b *testing.B) *Backend {
			st, err := New(cc, &Options{Prefix: mode})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			if mode == "fcall" {
				err := cc.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
					return st.scripts.load(ctx, m)
				})
				if err != nil {
					b.Fatal(err)
				}
				st.scripts.evalOnly.Store(false)
			}
			return st
		}
		b.Run(mode+"/add", func(b *testing.B) {
			st := open(b)
			defer meterCluster(b, cc)()
			b.ResetTimer()
			for range b.N {
				if _, err := st.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode+"/lease+settle", func(b *testing.B) {
			st := open(b)
			jobs := make([]backend.NewJob, 1000)
			for i := range jobs {
				jobs[i] = backend.NewJob{Name: "n"}
			}
			for n := 0; n < b.N; n += len(jobs) {
				if _, err := st.Add(ctx, "q", &backend.AddRequest{Jobs: jobs}); err != nil {
					b.Fatal(err)
				}
			}
			defer meterCluster(b, cc)()
			b.ResetTimer()
			for range b.N {
				l, err := st.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: 30e9})
				if err != nil || len(l.Jobs) != 1 {
					b.Fatal(l, err)
				}
				if _, err := st.Settle(ctx, "q", &backend.SettleRequest{Settlements: []backend.Settlement{complete(l.Jobs[0], "")}}); err != nil {
					b.Fatal(err)
				}
			}
			if mode == "fcall" && st.scripts.evalOnly.Load() {
				b.Fatal("the store fell back to EVALSHA")
			}
		})
	}
}

// meterCluster reports, when the returned func is called, the CPU time
// the masters used since, per op.
func meterCluster(b *testing.B, cc *goredis.ClusterClient) func() {
	cpu := func() float64 {
		var mu sync.Mutex
		total := 0.0
		err := cc.ForEachMaster(context.Background(), func(ctx context.Context, m *goredis.Client) error {
			info, err := m.InfoMap(ctx, "cpu").Result()
			if err != nil {
				return err
			}
			u, _ := strconv.ParseFloat(info["CPU"]["used_cpu_user"], 64)
			s, _ := strconv.ParseFloat(info["CPU"]["used_cpu_sys"], 64)
			mu.Lock()
			total += u + s
			mu.Unlock()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return total
	}
	start := cpu()
	return func() {
		b.StopTimer()
		b.ReportMetric((cpu()-start)*1e6/float64(b.N), "server-µs/op")
	}
}
