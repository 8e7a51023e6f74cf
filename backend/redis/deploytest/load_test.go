package deploytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// deadline bounds, in real time, every wait for something that should
// happen. It is generous for slow -race runs; no test asserts how quickly
// anything happens.
const deadline = time.Minute

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// load is a workload of producers and workers on one queue, each with a
// client and a store of its own, as separate processes would have.
type load struct {
	t         *testing.T
	name      string
	queue     string
	opts      redis.Options
	newClient func() goredis.UniversalClient
	// retry makes producers repeat a failed Add (with the same job IDs,
	// so that a repeat makes no second job) until it is acknowledged.
	retry bool

	stop      chan struct{}
	producers sync.WaitGroup
	workers   []*queue.Worker

	mu      sync.Mutex
	acked   map[string]bool
	acks    int
	failed  int      // Add calls that returned an error
	errs    []string // the first few of their errors
	returns map[string]int
	runs    int
	// ackTimes and runTimes are when each Add was acknowledged and each
	// handler returned.
	ackTimes, runTimes []time.Time
}

// startLoad starts producers and workers and waits until both have made
// some progress.
func startLoad(t *testing.T, l *load, producers, workers int) {
	l.t = t
	l.stop = make(chan struct{})
	l.acked, l.returns = map[string]bool{}, map[string]int{}
	for i := range workers {
		store := l.open(t)
		w, err := queue.NewWorker(store, l.queue, l.handle, &queue.WorkerOptions{
			Concurrency: 4,
			// Short leases, so that a job whose lease or settle a
			// failover lost is recovered soon.
			LeaseTTL:     2 * time.Second,
			LeaseWait:    time.Second,
			MaxStalled:   100,
			ErrorBackoff: func(n int) time.Duration { return min(50*time.Millisecond<<min(n, 4), 500*time.Millisecond) },
			Name:         fmt.Sprintf("%s-worker-%d", l.name, i),
			Logger:       quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.workers = append(l.workers, w)
	}
	t.Cleanup(l.stopAll)
	for i := range producers {
		q, err := queue.New(l.open(t), l.queue, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.producers.Add(1)
		go l.produce(i, q)
	}
	l.waitProgress(100)
}

// open returns a store on a client of its own, closed when the test ends.
func (l *load) open(t *testing.T) *redis.Backend {
	c := l.newClient()
	t.Cleanup(func() { c.Close() })
	o := l.opts
	o.Logger = quiet
	return open(t, c, &o)
}

// open returns a store on client, closed when the test ends.
func open(t testing.TB, client goredis.UniversalClient, opts *redis.Options) *redis.Backend {
	t.Helper()
	b, err := redis.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func (l *load) handle(ctx context.Context, j *queue.Job) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.returns[j.ID]++
	l.runs++
	l.runTimes = append(l.runTimes, time.Now())
	return nil, nil
}

// produce adds jobs with IDs of its own, one or a bulk of two to four a
// call, until the load stops.
func (l *load) produce(index int, q *queue.Queue) {
	defer l.producers.Done()
	for call := 0; ; call++ {
		bulk := make([]queue.BulkJob, 1+call%2*(1+call/2%3))
		for k := range bulk {
			id := fmt.Sprintf("p%d-%d-%d", index, call, k)
			bulk[k] = queue.BulkJob{Name: "work", Options: &queue.AddOptions{ID: id}}
		}
		for failures := 0; ; failures++ {
			select {
			case <-l.stop:
				return
			case <-time.After(min(time.Duration(failures)*50*time.Millisecond, 500*time.Millisecond) + 2*time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			jobs, err := q.AddBulk(ctx, bulk)
			cancel()
			l.mu.Lock()
			if err == nil {
				for _, j := range jobs {
					l.acked[j.ID] = true
					l.acks++
				}
				l.ackTimes = append(l.ackTimes, time.Now())
			} else {
				l.failed++
				if len(l.errs) < 5 {
					l.errs = append(l.errs, err.Error())
				}
			}
			l.mu.Unlock()
			if err == nil || !l.retry {
				break
			}
		}
	}
}

// progress returns the acknowledged adds and handler returns so far.
func (l *load) progress() (acks, runs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks, l.runs
}

// waitProgress waits until n more adds were acknowledged and n more
// handlers returned.
func (l *load) waitProgress(n int) {
	l.t.Helper()
	a0, r0 := l.progress()
	redistest.Poll(l.t, fmt.Sprintf("%s: %d more adds and runs", l.name, n), func() string {
		if a, r := l.progress(); a < a0+n || r < r0+n {
			return fmt.Sprintf("%d more adds and %d more runs so far", a-a0, r-r0)
		}
		return ""
	})
}

// pause returns the longest time after since in which no Add was
// acknowledged or no handler returned, whichever is longer, and when it
// ended, as a time after since: how long the load stopped, and when it
// resumed.
func (l *load) pause(since time.Time) (stopped, resumed time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, times := range [][]time.Time{l.ackTimes, l.runTimes} {
		prev := since
		for _, at := range times {
			if at.Before(since) {
				continue
			}
			if gap := at.Sub(prev); gap > stopped {
				stopped, resumed = gap, at.Sub(since)
			}
			prev = at
		}
	}
	return stopped, resumed
}

func (l *load) stopAll() {
	select {
	case <-l.stop:
		return
	default:
	}
	close(l.stop)
	l.producers.Wait()
	for _, w := range l.workers {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		_ = w.Stop(ctx)
		cancel()
	}
}

// report is what became of a load's jobs.
type report struct {
	acked, completed, failedAdds int
	addErrs                      []string // the first few errors of failed Add calls
	lost                         []string
	// dups are jobs whose handler returned more than once; stalls are
	// how many of their extra runs followed a recovery as stalled.
	dups, extraRuns, stalls int
	// unexplained are jobs that ran more often than their recoveries
	// as stalled and lostWrites allow.
	unexplained []string
}

func (r report) String() string {
	return fmt.Sprintf("acknowledged %d, completed %d, lost %d, failed Add calls %d; %d jobs ran more than once (%d extra runs, %d after a recovery as stalled)",
		r.acked, r.completed, len(r.lost), r.failedAdds, r.dups, r.extraRuns, r.stalls)
}

// finish stops the producers, waits until the store holds no job left to
// run (or nothing has changed for the deadline), stops the workers and
// says what became of every acknowledged job. lostWrites is how many
// extra runs a job may have beyond its recoveries as stalled: one for a
// failover that may lose the lease or settle of a run that happened
// (at-least-once), none for one that loses no acknowledged write.
func (l *load) finish(lostWrites int) report {
	l.t.Helper()
	close(l.stop)
	l.producers.Wait()
	store := l.open(l.t)
	ctx := context.Background()
	var last backend.Counts
	var lastRuns int
	idle := time.Now()
	for {
		c, err := store.Counts(ctx, l.queue)
		_, runs := l.progress()
		if err == nil && c.Waiting+c.Delayed+c.Active == 0 {
			break
		}
		if c != last || runs != lastRuns {
			last, lastRuns, idle = c, runs, time.Now()
		} else if time.Since(idle) > deadline {
			l.t.Errorf("%s: no progress for %s: counts %+v (%v)", l.name, deadline, c, err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, w := range l.workers {
		ctx, cancel := context.WithTimeout(ctx, deadline)
		if err := w.Stop(ctx); err != nil {
			l.t.Errorf("%s: stop worker: %v", l.name, err)
		}
		cancel()
	}
	all := map[string]*backend.Job{}
	for _, st := range backend.States {
		for off := 0; ; off += 1000 {
			r, err := store.Jobs(ctx, l.queue, &backend.JobsRequest{State: st, Offset: off, Limit: 1000})
			if err != nil {
				l.t.Fatalf("%s: %s jobs: %v", l.name, st, err)
			}
			for _, j := range r.Jobs {
				all[j.ID] = j
			}
			if len(r.Jobs) < 1000 {
				break
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rep := report{acked: len(l.acked), failedAdds: l.failed, addErrs: l.errs}
	for _, id := range slices.Sorted(maps.Keys(l.acked)) {
		switch j := all[id]; {
		case j == nil:
			rep.lost = append(rep.lost, id+": not in the store")
		case j.State != backend.StateCompleted:
			rep.lost = append(rep.lost, fmt.Sprintf("%s: %s", id, j.State))
		default:
			rep.completed++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(l.returns)) {
		n := l.returns[id]
		if n == 1 {
			continue
		}
		rep.dups++
		rep.extraRuns += n - 1
		stalled := 0
		if j := all[id]; j != nil {
			stalled = j.StalledCount
		}
		rep.stalls += min(stalled, n-1)
		if n > 1+stalled+lostWrites {
			rep.unexplained = append(rep.unexplained, fmt.Sprintf("%s: %d runs, stalled %d times", id, n, stalled))
		}
	}
	return rep
}

// check fails the test if the report breaks what the run promises:
// with lossless set (a graceful failover, or WaitReplicas), no
// acknowledged job may be lost; in any run, every extra run of a job
// must be explained.
func (l *load) check(rep report, lossless bool) {
	l.t.Helper()
	if lossless && len(rep.lost) > 0 {
		l.t.Errorf("%s: lost %d acknowledged jobs, such as:\n%s", l.name, len(rep.lost), strings.Join(rep.lost[:min(len(rep.lost), 10)], "\n"))
	}
	if len(rep.unexplained) > 0 {
		l.t.Errorf("%s: %d jobs ran more often than their recoveries and the failover allow, such as:\n%s",
			l.name, len(rep.unexplained), strings.Join(rep.unexplained[:min(len(rep.unexplained), 10)], "\n"))
	}
}
