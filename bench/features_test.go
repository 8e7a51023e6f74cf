package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/droverhq/drover/queue"
)

// BenchmarkUpsertScheduler upserts job schedulers: each op a new scheduler
// (record and first iteration job), or the same scheduler again with new
// data (which replaces its pending iteration).
func BenchmarkUpsertScheduler(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		every := queue.Repeat{Every: time.Hour}
		b.Run("new", func(b *testing.B) {
			q := open(b, nil).queue(b, "sched")
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprintf("s%d", i)
				if _, err := q.UpsertJobScheduler(ctx, id, every, queue.JobTemplate{Name: "tick", Data: payload(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N, "upserts/s")
		})
		b.Run("same", func(b *testing.B) {
			q := open(b, nil).queue(b, "sched")
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := q.UpsertJobScheduler(ctx, "s", every, queue.JobTemplate{Name: "tick", Data: payload(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N, "upserts/s")
		})
	})
}

// BenchmarkAddFlow adds flows of a parent with three children, one flow per
// call. One op is one flow of four jobs.
func BenchmarkAddFlow(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run("children=3", func(b *testing.B) {
			q := open(b, nil).queue(b, "flow")
			ctx := context.Background()
			f := queue.Flow{Name: "parent", Data: payload(0), Children: []queue.Flow{
				{Name: "child", Data: payload(1)},
				{Name: "child", Data: payload(2)},
				{Name: "child", Data: payload(3)},
			}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := q.AddFlow(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N, "flows/s")
			reportRate(b, 4*b.N, "jobs/s")
		})
	})
}

// BenchmarkEvents reads a queue's event log from the start through a
// subscription. The log is written before the timer starts. One op is one
// event.
func BenchmarkEvents(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run("read", func(b *testing.B) {
			e := open(b, &storeOptions{keepEvents: 1 << 30})
			q := e.queue(b, "events")
			ctx := context.Background()
			for {
				last, err := e.store.LastEventID(ctx, q.Name())
				if err != nil {
					b.Fatal(err)
				}
				if last >= uint64(b.N) {
					break
				}
				fill(b, q, min(b.N-int(last), 100_000))
			}
			sub, err := q.Subscribe(ctx, queue.FromStart(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := sub.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N, "events/s")
		})
	})
}

// BenchmarkWideFlow adds a flow of one parent with many children, then
// runs it with one worker of concurrency 50, which leases and settles the
// children in batches, until the parent's handler has run. One op is one
// flow; the timer covers the run, not the add. ns/child should not grow
// with the number of children; add-ns/child is the AddFlow call per child.
func BenchmarkWideFlow(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, width := range []int{1_000, 10_000} {
			b.Run(fmt.Sprintf("children=%d", width), func(b *testing.B) {
				e := open(b, nil)
				q := e.queue(b, "wide")
				ctx := context.Background()
				f := queue.Flow{Name: "parent", Data: payload(0), Children: make([]queue.Flow, width)}
				for i := range f.Children {
					f.Children[i] = queue.Flow{Name: "child", Data: payload(i)}
				}
				var adding time.Duration
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					start := time.Now()
					if _, err := q.AddFlow(ctx, f); err != nil {
						b.Fatal(err)
					}
					adding += time.Since(start)
					c := newCounter(width + 1)
					b.StartTimer()
					stop := startWorkers(b, e, q, 1, 50, c.handle)
					c.wait(b, 30*time.Minute)
					b.StopTimer()
					stop()
				}
				children := b.N * width
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(children), "ns/child")
				b.ReportMetric(float64(adding.Nanoseconds())/float64(children), "add-ns/child")
				reportRate(b, children, "children/s")
			})
		}
	})
}
