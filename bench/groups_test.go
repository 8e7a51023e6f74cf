package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// BenchmarkGroups runs no-op jobs spread over 1,000 groups with a group
// concurrency of 1, by one worker of concurrency 50. The jobs are added
// group after group (each group's jobs together: the order that starves
// the last groups without round robin), or interleaved (the first job of
// every group, then the second, …); "ungrouped" runs as many jobs in a
// queue that never had a group, the figure to compare with. One op is one job; run it with
// -benchtime 100000x for 100 jobs a group. It reports how far apart the
// groups finished: the spread between the first and the last group to
// finish, as a fraction of the whole run.
func BenchmarkGroups(b *testing.B) {
	const groups = 1000
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		for _, order := range []string{"ungrouped", "grouped", "interleaved"} {
			name := fmt.Sprintf("groups=%d/concurrency=1/added=%s", groups, order)
			if order == "ungrouped" {
				name = "ungrouped"
			}
			b.Run(name, func(b *testing.B) {
				e := open(b, nil)
				q := e.queue(b, "grouped")
				ctx := context.Background()
				if _, ok := e.store.(backend.GroupStore); !ok {
					b.Skip("store does not serve groups")
				}
				// The ungrouped case is a queue that never had a group.
				if order != "ungrouped" {
					if err := q.SetGroupLimits(ctx, queue.Limits{Concurrency: 1}); err != nil {
						b.Fatal(err)
					}
				}
				per := max(b.N/groups, 1)
				jobs := make([]queue.BulkJob, 0, groups)
				for outer := range max(groups, per) {
					jobs = jobs[:0]
					if order == "ungrouped" && outer < groups {
						for i := range per {
							jobs = append(jobs, queue.BulkJob{Name: "noop", Data: payload(i)})
						}
					} else if order == "grouped" && outer < groups {
						for i := range per {
							jobs = append(jobs, queue.BulkJob{Name: "noop", Data: payload(i), Options: &queue.AddOptions{Group: fmt.Sprint("g", outer)}})
						}
					} else if order == "interleaved" && outer < per {
						for g := range groups {
							jobs = append(jobs, queue.BulkJob{Name: "noop", Data: payload(outer), Options: &queue.AddOptions{Group: fmt.Sprint("g", g)}})
						}
					}
					if len(jobs) == 0 {
						continue
					}
					if _, err := q.AddBulk(ctx, jobs); err != nil {
						b.Fatal(err)
					}
				}
				total := per * groups
				var (
					mu   sync.Mutex
					last = make(map[string]time.Time, groups)
				)
				c := newCounter(total)
				h := func(ctx context.Context, j *queue.Job) ([]byte, error) {
					mu.Lock()
					last[j.Group] = time.Now()
					mu.Unlock()
					return c.handle(ctx, j)
				}
				cs := &countingStore{Backend: e.store}
				meter := e.meterServer(b)
				b.ResetTimer()
				start := time.Now()
				stop := startWorkersOn(b, cs, q, 1, 50, h)
				c.wait(b, 10*time.Minute)
				b.StopTimer()
				elapsed := time.Since(start)
				stop()
				reportRate(b, total, "jobs/s")
				meter(total, "job")
				cs.report(b)
				ends := make([]time.Duration, 0, len(last))
				for _, t := range last {
					ends = append(ends, t.Sub(start))
				}
				if order == "ungrouped" {
					return
				}
				slices.Sort(ends)
				b.ReportMetric((ends[len(ends)-1]-ends[0]).Seconds()/elapsed.Seconds(), "finish-spread/run")
				b.ReportMetric(ends[0].Seconds()/elapsed.Seconds(), "first-group-done/run")
			})
		}
	})
}
