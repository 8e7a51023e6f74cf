package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// BenchmarkRateLimit runs no-op jobs under a rate limit of 1,000 starts a
// second, with two workers of concurrency 50 leasing against it. One op is
// one job. It reports the most starts that the event log shows in any
// one-second window (the limit is 1,000) and the rate of the starts after
// the first window's burst, so run it with -benchtime of a few thousand
// jobs (-benchtime 3000x).
func BenchmarkRateLimit(b *testing.B) {
	const rate = 1000
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run(fmt.Sprintf("rate=%d/s", rate), func(b *testing.B) {
			e := open(b, &storeOptions{keepEvents: 1 << 30})
			q := e.queue(b, "limited")
			ctx := context.Background()
			if err := q.SetLimits(ctx, queue.Limits{Rate: rate, RatePer: time.Second}); err != nil {
				b.Fatal(err)
			}
			fill(b, q, b.N)
			c := newCounter(b.N)
			b.ResetTimer()
			stop := startWorkers(b, e, q, 2, 50, c.handle)
			c.wait(b, 10*time.Minute)
			b.StopTimer()
			stop()
			var starts []time.Time
			sub, err := q.Subscribe(ctx, queue.FromStart(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			for len(starts) < b.N {
				ev, err := sub.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if ev.Type == backend.EventActive {
					starts = append(starts, ev.Time)
				}
			}
			most := 0
			for i, j := 0, 0; j < len(starts); j++ {
				for starts[j].Sub(starts[i]) >= time.Second {
					i++
				}
				most = max(most, j-i+1)
			}
			if most > rate {
				b.Errorf("%d starts within one second, limit %d", most, rate)
			}
			b.ReportMetric(float64(most), "max-starts/window")
			// The first window starts a full burst at once; the steady
			// rate is that of the starts after it.
			if d := starts[len(starts)-1].Sub(starts[0]).Seconds(); d > 0 && len(starts) > rate {
				b.ReportMetric(float64(len(starts)-rate)/d, "steady-starts/s")
			}
		})
	})
}

// BenchmarkAddDedup adds jobs with deduplication keys, one at a time:
// each a new key (the key is taken), or all the same key (each add after
// the first is ignored).
func BenchmarkAddDedup(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, same := range []bool{false, true} {
			b.Run(fmt.Sprintf("same-key=%v", same), func(b *testing.B) {
				q := open(b, nil).queue(b, "dedup")
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					key := "k"
					if !same {
						key = fmt.Sprint("k", i)
					}
					if _, err := q.Add(ctx, "noop", payload(i), &queue.AddOptions{Dedup: queue.Dedup{Key: key}}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reportRate(b, b.N, "adds/s")
			})
		}
	})
}
