package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/droverhq/drover/queue"
)

// BenchmarkAdd adds single jobs: one after the other, and from 50
// concurrent producers (which a store can coalesce into shared commits or
// round trips). One op is one job.
func BenchmarkAdd(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run("sequential", func(b *testing.B) { addSequential(b, open(b, nil)) })
		b.Run("producers=50", func(b *testing.B) {
			e := open(b, nil)
			q := e.queue(b, "add")
			b.ReportAllocs()
			meter := e.meterServer(b)
			b.ResetTimer()
			produce(b, q, 50, b.N)
			b.StopTimer()
			reportRate(b, b.N, "jobs/s")
			meter(b.N, "job")
		})
	})
}

// addSequential adds b.N single jobs one after the other.
func addSequential(b *testing.B, e *env) {
	q := e.queue(b, "add")
	ctx := context.Background()
	data := payload(1)
	b.ReportAllocs()
	meter := e.meterServer(b)
	b.ResetTimer()
	for range b.N {
		if _, err := q.Add(ctx, "noop", data, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, b.N, "jobs/s")
	meter(b.N, "job")
}

// produce adds n single jobs from p goroutines.
func produce(b *testing.B, q *queue.Queue, p, n int) {
	ctx := context.Background()
	data := payload(1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range p {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := q.Add(ctx, "noop", data, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkAddBulk adds jobs in bulks of 1,000 from one producer. One op is
// one job.
func BenchmarkAddBulk(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run("chunk=1000", func(b *testing.B) {
			e := open(b, nil)
			q := e.queue(b, "bulk")
			ctx := context.Background()
			const chunk = 1000
			jobs := make([]queue.BulkJob, chunk)
			for i := range jobs {
				jobs[i] = queue.BulkJob{Name: "noop", Data: payload(i)}
			}
			b.ReportAllocs()
			meter := e.meterServer(b)
			b.ResetTimer()
			for i := 0; i < b.N; i += chunk {
				if _, err := q.AddBulk(ctx, jobs[:min(chunk, b.N-i)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N, "jobs/s")
			meter(b.N, "job")
		})
	})
}
