package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The ETag case with a real Worker: each iteration's handler upserts its own
// scheduler with the data for the next run. Every iteration sees the data of
// the one before, runs stay on the original cadence, and there is never more
// than one pending iteration.
func TestWorkerIterationsHandTheirDataToTheNext(t *testing.T) {
	e := newSchedEnv(t, nil)
	repeat := Repeat{Every: 10 * time.Second}
	if _, err := e.q.UpsertJobScheduler(e.ctx, "etag", repeat, JobTemplate{Name: "check", Data: []byte(`0`)}); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		runAt time.Time
		data  string
	}
	var (
		mu   sync.Mutex
		runs []seen
	)
	const want = 2*planAhead + 3
	h := func(ctx context.Context, j *Job) ([]byte, error) {
		var n int
		if err := j.Decode(&n); err != nil {
			return nil, err
		}
		mu.Lock()
		runs = append(runs, seen{j.RunAt, string(j.Data)})
		mu.Unlock()
		_, err := e.q.UpsertJobScheduler(ctx, j.SchedulerID(), repeat, JobTemplate{Name: "check", Data: fmt.Appendf(nil, "%d", n+1)})
		return nil, err
	}
	w, err := NewWorker(e.store, e.q.name, h, &WorkerOptions{Clock: e.clock, LeaseWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, stop := context.WithTimeout(context.Background(), 20*time.Second)
		defer stop()
		w.Stop(stopCtx)
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(runs)
	}
	for k := 1; k <= want; k++ {
		e.clock.Set(envStart.Add(time.Duration(k) * 10 * time.Second))
		untilTrue(t, fmt.Sprintf("iteration %d", k), func() bool { return count() >= k })
		// Wait until the handler's upsert and the settle landed.
		untilTrue(t, fmt.Sprintf("iteration %d settled", k), func() bool {
			c, err := e.q.Counts(e.ctx)
			return err == nil && c.Completed == k
		})
		if p := e.pending("etag"); len(p) != 1 || string(p[0].Data) != fmt.Sprint(k) {
			t.Fatalf("after iteration %d: pending %v", k, p)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range runs {
		if wantAt := envStart.Add(time.Duration(i+1) * 10 * time.Second); !r.runAt.Equal(wantAt) || r.data != fmt.Sprint(i) {
			t.Errorf("run %d at %v with %s, want at %v with %d", i+1, r.runAt, r.data, wantAt, i)
		}
	}
}
