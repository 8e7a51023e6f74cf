package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// leaseLog is a store that records every lease it hands out, every
// settlement applied, and how many Lease calls are in flight.
type leaseLog struct {
	backend.Full

	inFlight atomic.Int32

	mu      sync.Mutex
	leased  map[string]string // lease token → job ID
	settled map[string]int    // lease token → settlements applied
	errs    []string
}

func newLeaseLog(store backend.Full) *leaseLog {
	return &leaseLog{Full: store, leased: make(map[string]string), settled: make(map[string]int)}
}

func (l *leaseLog) Lease(ctx context.Context, q string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	l.inFlight.Add(1)
	defer l.inFlight.Add(-1)
	res, err := l.Full.Lease(ctx, q, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, j := range res.Jobs {
		if prev, ok := l.leased[j.Lease.Token]; ok {
			l.errs = append(l.errs, fmt.Sprintf("lease token %q handed out for job %s and again for job %s", j.Lease.Token, prev, j.ID))
		}
		l.leased[j.Lease.Token] = j.ID
	}
	return res, err
}

func (l *leaseLog) Settle(ctx context.Context, q string, req *backend.SettleRequest) (backend.SettleResult, error) {
	res, err := l.Full.Settle(ctx, q, req)
	if err != nil || len(res.Errs) != len(req.Settlements) {
		return res, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range req.Settlements {
		if res.Errs[i] == nil {
			l.settled[s.Lease.Token]++
		}
	}
	return res, err
}

// problems returns what the log found wrong: tokens reused, attempts
// settled twice or never.
func (l *leaseLog) problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.errs...)
	for token, id := range l.leased {
		if n := l.settled[token]; n != 1 {
			out = append(out, fmt.Sprintf("attempt of job %s under lease %q settled %d times", id, token, n))
		}
	}
	return out
}

// holders tracks which handler holds each job, and fails on a second one.
type holders struct {
	mu   sync.Mutex
	by   map[string]string // job ID → holder
	errs []string
}

func (h *holders) enter(id, who string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.by[id]; ok {
		h.errs = append(h.errs, fmt.Sprintf("job %s run by %s while %s still runs it", id, who, prev))
	}
	h.by[id] = who
}

func (h *holders) leave(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.by, id)
}

func testDispatchWorker(t *testing.T, f Factory, cfg Config) {
	t.Run("four idle workers all start at once on a bulk of four, twenty rounds out of twenty", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		b := setup(t, f)
		// startWithin bounds how long the first handlers of a round wait
		// for the others: much longer than a wake-up takes, even on a busy
		// machine, yet well under the one second after which a waiting
		// Redis Lease looks again by itself, so a lost wake-up still shows.
		const k, rounds, startWithin = 4, 20, 500 * time.Millisecond
		rec := newLeaseLog(b.store)
		var (
			started atomic.Int32
			mu      sync.Mutex
			early   []string // jobs that finished before all had started
		)
		for range k {
			b.startWorker(rec, func(ctx context.Context, j *queue.Job) ([]byte, error) {
				started.Add(1)
				// The work lasts until every job of the bulk has started, or
				// startWithin has passed: a worker whose handler returned
				// early could take a second job of the bulk and hide a
				// worker that was never woken.
				poll(startWithin, func() bool { return started.Load() >= k })
				if n := started.Load(); n < k {
					mu.Lock()
					early = append(early, fmt.Sprintf("job %s (%s) finished with %d of %d started", j.ID, j.Name, n, k))
					mu.Unlock()
				}
				return nil, nil
			}, queue.WorkerOptions{LeaseWait: time.Hour, LeaseTTL: time.Hour})
		}
		q := b.queueHandle(b.q)
		for round := range rounds {
			// Every worker is idle: each has a Lease call in flight on an
			// empty queue. The clock stands still, so only wake-ups can
			// start the handlers.
			waitFor(t, deadline, func() bool { return rec.inFlight.Load() == k })
			started.Store(0)
			bulk := make([]queue.BulkJob, k)
			for i := range bulk {
				bulk[i] = queue.BulkJob{Name: fmt.Sprintf("round-%d-%d", round, i)}
			}
			if _, err := q.AddBulk(b.ctx, bulk); err != nil {
				t.Fatalf("round %d: AddBulk: %v", round, err)
			}
			waitFor(t, deadline, func() bool { return b.counts().Completed == (round+1)*k })
			mu.Lock()
			if len(early) > 0 {
				t.Errorf("round %d: %v", round, early)
				early = nil
			}
			mu.Unlock()
		}
		// The last settlements may still be on their way back from the
		// store.
		poll(deadline, func() bool { return len(rec.problems()) == 0 })
		for _, p := range rec.problems() {
			t.Error(p)
		}
	})

	t.Run("random bulks, adds, delays and workers: one holder per job at a time, each attempt settled once, every job completed", func(t *testing.T) {
		t.Parallel()
		heavy(t)
		run := 0
		checkN(t, cfg.size(15), func(rt *rapid.T) {
			store, clock := propertyStore(t, rt, f, &run)
			rec := newLeaseLog(store)
			hs := &holders{by: make(map[string]string)}
			h := func(ctx context.Context, j *queue.Job) ([]byte, error) {
				who := fmt.Sprintf("lease %s", j.Lease.Token)
				hs.enter(j.ID, who)
				defer hs.leave(j.ID)
				if string(j.Data) == "flaky" && j.AttemptsMade == 0 {
					return nil, errors.New("first attempt fails")
				}
				return []byte("ok"), nil
			}
			concurrency := rapid.SliceOfN(rapid.IntRange(1, 4), 1, 4).Draw(rt, "workers")
			ws := startWorkers(rt, rec, clock, propQueue, concurrency, h, queue.WorkerOptions{
				LeaseTTL: time.Hour, LeaseWait: time.Second, SettleTimeout: time.Hour,
			})
			total := 0
			for _, n := range rapid.SliceOfN(rapid.IntRange(1, 20), 1, 6).Draw(rt, "bulks") {
				jobs := make([]backend.NewJob, n)
				for i := range jobs {
					jobs[i] = backend.NewJob{
						Name:     "d",
						Attempts: 2,
						Delay:    time.Duration(rapid.SampledFrom([]int{0, 0, 0, 2}).Draw(rt, "delay")) * time.Second,
					}
					if rapid.IntRange(0, 3).Draw(rt, "flaky") == 0 {
						jobs[i].Data = []byte("flaky")
					}
				}
				if _, err := rec.Add(context.Background(), propQueue, &backend.AddRequest{Jobs: jobs}); err != nil {
					rt.Fatalf("Add: %v", err)
				}
				total += n
			}
			done := driveUntil(clock, 100*time.Millisecond, func() bool {
				c, err := store.Counts(context.Background(), propQueue)
				return err == nil && c.Completed == total
			})
			if !ws.stop() {
				rt.Fatalf("workers did not stop")
			}
			c, err := store.Counts(rt.Context(), propQueue)
			if err != nil {
				rt.Fatalf("Counts: %v", err)
			}
			if !done || c.Completed != total || c.Failed+c.Active+c.Waiting+c.Delayed != 0 {
				rt.Fatalf("Counts = %+v; want all %d jobs completed", c, total)
			}
			hs.mu.Lock()
			errs := hs.errs
			hs.mu.Unlock()
			errs = append(errs, rec.problems()...)
			if len(errs) > 0 {
				rt.Fatalf("%d problems: %v", len(errs), errs)
			}
		})
	})
}
