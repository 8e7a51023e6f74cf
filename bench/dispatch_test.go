package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

const (
	// dispatchWorkers is K, the idle workers of concurrency 1.
	dispatchWorkers = 4
	// dispatchJobTime is how long each dispatch job runs, so that a worker
	// that finished its job cannot also take a second one of the bulk.
	dispatchJobTime = 20 * time.Millisecond

	// Environment of a worker process of the dispatch benchmark.
	workerAddrEnv  = "DROVER_BENCH_WORKER_REDIS"
	workerQueueEnv = "DROVER_BENCH_WORKER_QUEUE"
	// slowRoundsEnv, when set, makes BenchmarkDispatch log every round in
	// which a job started more than 2 ms after AddBulk returned.
	slowRoundsEnv = "DROVER_BENCH_SLOW_ROUNDS"
)

// dispatchEvent is a job's lease, handler start or handler end.
type dispatchEvent struct {
	worker int
	kind   string // "leased", "start" or "end"
	job    string
	at     time.Time
}

// leaseWatch is a store that reports when Lease hands out each job, to
// split the dispatch latency into the store's part (add to lease) and the
// worker's (lease to handler start).
type leaseWatch struct {
	backend.Backend
	leased func(job string, at time.Time)
}

func (w *leaseWatch) Lease(ctx context.Context, queue string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	res, err := w.Backend.Lease(ctx, queue, req)
	now := time.Now()
	for _, j := range res.Jobs {
		w.leased(string(j.Data), now)
	}
	return res, err
}

// BenchmarkDispatch measures how fast a bulk reaches idle workers: K
// workers of concurrency 1 wait on an empty queue, a bulk of K jobs is
// added, and each job's latency runs from AddBulk returning to its
// handler's start. On bolt the workers are goroutines sharing the store; on
// Redis each is a process of its own (this test binary, re-executed). One
// op is one bulk; the metrics are the latency percentiles, the number of
// distinct workers that took the bulk's jobs, and the percentiles of the
// time from AddBulk returning to Lease returning each job (the store's part
// of the latency; the rest is the worker's).
//
// The tx-workers=4 variant adds each bulk in a transaction of the
// application's own (Queue.AddBulkTx): on bolt an Update of the database
// the store was opened in (bolt.OpenDB), on Redis a MULTI/EXEC.
func BenchmarkDispatch(b *testing.B) {
	forStores(b, func(b *testing.B, open func(testing.TB, *storeOptions) *env) {
		b.Run(fmt.Sprintf("workers=%d", dispatchWorkers), func(b *testing.B) {
			e := open(b, nil)
			q := e.queue(b, "dispatch")
			dispatchRounds(b, e, q, func(ctx context.Context, jobs []queue.BulkJob) error {
				_, err := q.AddBulk(ctx, jobs)
				return err
			})
		})
		b.Run(fmt.Sprintf("tx-workers=%d", dispatchWorkers), func(b *testing.B) {
			e := open(b, &storeOptions{appDB: true})
			q := e.queue(b, "dispatch")
			dispatchRounds(b, e, q, func(ctx context.Context, jobs []queue.BulkJob) error {
				return e.addInTx(ctx, q, jobs)
			})
		})
	})
}

// dispatchRounds runs the rounds of BenchmarkDispatch, adding each bulk
// with add.
func dispatchRounds(b *testing.B, e *env, q *queue.Queue, add func(context.Context, []queue.BulkJob) error) {
	events := make(chan dispatchEvent, 256*dispatchWorkers)
	if e.kind == "redis" {
		startWorkerProcesses(b, e, q.Name(), events)
	} else {
		startWorkerGoroutines(b, e, q, events)
	}
	ctx := context.Background()
	jobs := make([]queue.BulkJob, dispatchWorkers)
	var lats, leaseLats []float64
	used := 0
	logSlow := os.Getenv(slowRoundsEnv) != ""
	time.Sleep(100 * time.Millisecond) // every worker into its idle wait
	b.ReportAllocs()
	b.ResetTimer()
	for round := range b.N {
		for i := range jobs {
			jobs[i] = queue.BulkJob{Name: "dispatch", Data: fmt.Appendf(nil, "%d-%d", round, i)}
		}
		if err := add(ctx, jobs); err != nil {
			b.Fatal(err)
		}
		added := time.Now()
		workers := map[int]bool{}
		for range 3 * dispatchWorkers { // K leases, K starts and K ends
			select {
			case ev := <-events:
				ms := float64(ev.at.Sub(added)) / float64(time.Millisecond)
				switch ev.kind {
				case "start":
					lats = append(lats, ms)
					workers[ev.worker] = true
				case "leased":
					leaseLats = append(leaseLats, ms)
				}
			case <-time.After(30 * time.Second):
				b.Fatalf("round %d: jobs not run after 30s", round)
			}
		}
		if logSlow {
			// The round's latencies: which workers were late, and
			// whether the store (lease) or the worker was.
			starts, leases := lats[len(lats)-dispatchWorkers:], leaseLats[len(leaseLats)-dispatchWorkers:]
			if slices.Max(starts) > 2 {
				b.Logf("round %d at %s: start ms %.2f, lease ms %.2f", round, added.Format("15:04:05.000"), starts, leases)
			}
		}
		used += len(workers)
		b.StopTimer()
		time.Sleep(10 * time.Millisecond) // idle again before the next bulk
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(percentile(lats, 50), "p50-ms")
	b.ReportMetric(percentile(lats, 99), "p99-ms")
	b.ReportMetric(percentile(lats, 100), "max-ms")
	b.ReportMetric(float64(used)/float64(b.N), "workers/round")
	b.ReportMetric(percentile(leaseLats, 50), "lease-p50-ms")
	b.ReportMetric(percentile(leaseLats, 99), "lease-p99-ms")
}

// dispatchHandler reports its start and end and runs for dispatchJobTime.
func dispatchHandler(report func(kind, job string)) queue.Handler {
	return func(ctx context.Context, j *queue.Job) ([]byte, error) {
		report("start", string(j.Data))
		time.Sleep(dispatchJobTime)
		report("end", string(j.Data))
		return nil, nil
	}
}

func startWorkerGoroutines(b *testing.B, e *env, q *queue.Queue, events chan<- dispatchEvent) {
	for i := range dispatchWorkers {
		h := dispatchHandler(func(kind, job string) {
			events <- dispatchEvent{worker: i, kind: kind, job: job, at: time.Now()}
		})
		st := &leaseWatch{Backend: e.store, leased: func(job string, at time.Time) {
			events <- dispatchEvent{worker: i, kind: "leased", job: job, at: at}
		}}
		stop := startWorkersOn(b, st, q, 1, 1, h)
		b.Cleanup(stop)
	}
}

// startWorkerProcesses runs each worker in a process of its own and turns
// their reports into events.
func startWorkerProcesses(b *testing.B, e *env, queueName string, events chan<- dispatchEvent) {
	ready := make(chan int, dispatchWorkers)
	var readers sync.WaitGroup
	b.Cleanup(readers.Wait) // last: after every worker process has ended
	for i := range dispatchWorkers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDispatchWorkerProcess$")
		cmd.Env = append(os.Environ(), workerAddrEnv+"="+e.addr, workerQueueEnv+"="+queueName)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			stdin.Close() // the worker stops when its stdin closes
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-done
			}
		})
		readers.Go(func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				switch {
				case len(f) == 1 && f[0] == "drover-bench-ready":
					ready <- i
				case len(f) == 4 && f[0] == "drover-bench":
					ns, _ := strconv.ParseInt(f[3], 10, 64)
					events <- dispatchEvent{worker: i, kind: f[1], job: f[2], at: time.Unix(0, ns)}
				}
			}
		})
	}
	for range dispatchWorkers {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			b.Fatal("worker processes not ready after a minute")
		}
	}
}

// TestDispatchWorkerProcess is the worker process of BenchmarkDispatch on
// Redis; it is skipped unless that benchmark started it.
func TestDispatchWorkerProcess(t *testing.T) {
	addr := os.Getenv(workerAddrEnv)
	if addr == "" {
		t.Skip("runs only as a worker process of BenchmarkDispatch")
	}
	e := openRedis(t, addr, false, nil)
	q := e.queue(t, os.Getenv(workerQueueEnv))
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(line + "\n")
		out.Flush()
	}
	report := func(kind, job string, at time.Time) {
		say(fmt.Sprintf("drover-bench %s %s %d", kind, job, at.UnixNano()))
	}
	h := dispatchHandler(func(kind, job string) { report(kind, job, time.Now()) })
	st := &leaseWatch{Backend: e.store, leased: func(job string, at time.Time) { report("leased", job, at) }}
	stop := startWorkersOn(t, st, q, 1, 1, h)
	say("drover-bench-ready")
	io.Copy(io.Discard, os.Stdin)
	stop()
}
