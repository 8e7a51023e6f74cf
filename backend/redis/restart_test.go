package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// workLoop leases and completes jobs of queue until ctx ends, as a worker
// does: errors are logged, followed by a short back-off, and the loop
// carries on. It counts the settles that the store acknowledged.
func workLoop(ctx context.Context, t testing.TB, b backend.Backend, queue string, acked map[string]int, mu *sync.Mutex) {
	for ctx.Err() == nil {
		r, err := b.Lease(ctx, queue, &backend.LeaseRequest{Worker: "w", Max: 10, TTL: 2 * time.Second, Wait: 200 * time.Millisecond, MaxStalled: 100})
		if err != nil {
			if ctx.Err() == nil {
				t.Logf("lease: %v", err)
				pause(ctx, 50*time.Millisecond)
			}
			continue
		}
		if len(r.Jobs) == 0 {
			continue
		}
		var ss []backend.Settlement
		for _, j := range r.Jobs {
			ss = append(ss, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete})
		}
		res, err := b.Settle(ctx, queue, &backend.SettleRequest{Settlements: ss})
		if err != nil {
			t.Logf("settle: %v", err)
			pause(ctx, 50*time.Millisecond)
			continue
		}
		mu.Lock()
		for i, e := range res.Errs {
			if e == nil {
				acked[ss[i].Lease.JobID]++
			}
		}
		mu.Unlock()
	}
}

// pause is the worker's back-off after an error.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// completedOnce checks that every job of ids completed exactly once
// according to the event log, and that each acknowledged settle is one
// of those.
func completedOnce(t *testing.T, b backend.Full, queue string, ids []string) {
	t.Helper()
	ctx := context.Background()
	completed := map[string]int{}
	var after uint64
	for {
		r, err := b.Events(ctx, queue, &backend.EventsRequest{After: after, Max: 1000})
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		if len(r.Events) == 0 {
			break
		}
		for _, e := range r.Events {
			if e.Type == backend.EventCompleted {
				completed[e.JobID]++
			}
			after = e.ID
		}
	}
	for _, id := range ids {
		if completed[id] != 1 {
			j, err := b.Job(ctx, queue, id)
			t.Errorf("job %s completed %d times (now %v, %v)", id, completed[id], j, err)
		}
	}
}

func addWithRetry(t *testing.T, b backend.Full, queue string, ids []string) {
	t.Helper()
	jobs := make([]backend.NewJob, len(ids))
	for i, id := range ids {
		jobs[i] = backend.NewJob{Name: "j", ID: id}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Caller-chosen IDs make a repeated Add safe.
		_, err := b.Add(context.Background(), queue, &backend.AddRequest{Jobs: jobs})
		if err == nil {
			return
		}
		if !errors.Is(err, backend.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("add: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestart(t *testing.T) {
	srv := redistest.Start(t, &redistest.Options{AppendOnly: true})
	client := srv.Client(t, &goredis.Options{PoolSize: 32, DialTimeout: 200 * time.Millisecond})
	b, err := New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const q = "restart"
	var ids []string
	for i := range 400 {
		ids = append(ids, fmt.Sprintf("job-%d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	acked := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workLoop(ctx, t, b, q, acked, &mu)
		}()
	}
	addWithRetry(t, b, q, ids[:200])
	waitFor(t, "some jobs to complete", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20
	})
	srv.Kill()
	srv.Restart()
	addWithRetry(t, b, q, ids[200:])
	deadlineFor(t, 30*time.Second, "every job to complete", func() bool {
		c, err := b.Counts(context.Background(), q)
		return err == nil && c.Completed == len(ids)
	})
	cancel()
	wg.Wait()
	completedOnce(t, b, q, ids)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range acked {
		if n > 1 {
			t.Errorf("job %s: %d settles acknowledged", id, n)
		}
	}
}

// TestMultiProcess runs workers in separate processes (this test binary,
// run again) against one redis-server; every job completes exactly once.
func TestMultiProcess(t *testing.T) {
	if addr := os.Getenv("DROVER_TEST_WORKER_ADDR"); addr != "" {
		runWorkerProcess(t, addr, os.Getenv("DROVER_TEST_WORKER_PREFIX"))
		return
	}
	srv := redistest.Start(t, nil)
	client := srv.Client(t, &goredis.Options{PoolSize: 16})
	prefix := fmt.Sprintf("mp%d", os.Getpid())
	b, err := New(client, &Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var ids []string
	for i := range 600 {
		ids = append(ids, fmt.Sprintf("job-%d", i))
	}
	addWithRetry(t, b, "mp", ids)
	var cmds []*exec.Cmd
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMultiProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "DROVER_TEST_WORKER_ADDR="+srv.Addr, "DROVER_TEST_WORKER_PREFIX="+prefix)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("worker process: %v", err)
		}
	}
	c, err := b.Counts(context.Background(), "mp")
	if err != nil || c.Completed != len(ids) || c.Total() != len(ids) {
		t.Fatalf("counts %+v %v", c, err)
	}
	completedOnce(t, b, "mp", ids)
}

func runWorkerProcess(t *testing.T, addr, prefix string) {
	client := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 16})
	defer client.Close()
	b, err := New(client, &Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acked := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workLoop(ctx, t, b, "mp", acked, &mu)
		}()
	}
	deadlineFor(t, 60*time.Second, "the queue to empty", func() bool {
		c, err := b.Counts(context.Background(), "mp")
		return err == nil && c.Waiting+c.Active+c.Delayed == 0
	})
	cancel()
	wg.Wait()
}

func deadlineFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
