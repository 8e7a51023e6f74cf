package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/fakeclock"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// controlStores runs fn on a queue of each store, with a fake clock.
func controlStores(t *testing.T, fn func(t *testing.T, clock *fakeclock.Clock, store backend.Full, q *queue.Queue)) {
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			clock := fakeclock.New(wenvStart)
			var store backend.Full
			if name == "bolt" {
				b, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), &bolt.Options{Clock: clock, NoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				store = b
			} else {
				_, c := redistest.Mini(t)
				r, err := redis.New(c, &redis.Options{Clock: clock, Prefix: "ctl"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				store = r
			}
			if _, ok := store.(backend.JobController); !ok {
				t.Fatalf("the %s store has no job control", name)
			}
			q, err := queue.New(store, "ctl", &queue.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			fn(t, clock, store, q)
		})
	}
}

func startControlWorker(t *testing.T, clock *fakeclock.Clock, store backend.Backend, q *queue.Queue, h queue.Handler, o queue.WorkerOptions) *queue.Worker {
	t.Helper()
	o.Clock = clock
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := queue.NewWorker(store, q.Name(), h, &o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan error, 1)
		go func() { done <- w.Stop(context.Background()) }()
		for {
			select {
			case <-done:
				return
			default:
			}
			clock.Advance(time.Second)
			time.Sleep(time.Millisecond)
		}
	})
	return w
}

func TestCancelStopsARunningHandlerWithItsCauseAndFailsTheJob(t *testing.T) {
	controlStores(t, func(t *testing.T, clock *fakeclock.Clock, store backend.Full, q *queue.Queue) {
		ctx := context.Background()
		j, err := q.Add(ctx, "long", nil, &queue.AddOptions{Attempts: 5})
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		cause := make(chan error, 1)
		startControlWorker(t, clock, store, q, func(ctx context.Context, job *queue.Job) ([]byte, error) {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		}, queue.WorkerOptions{LeaseTTL: time.Minute, RenewEvery: 10 * time.Second})
		recv(t, "handler start", started)
		if err := q.Cancel(ctx, j.ID, "not needed"); err != nil {
			t.Fatal(err)
		}
		// The worker learns of it at its next renewal.
		if err := clock.AwaitTimer(ctx, clock.Now().Add(10*time.Second), 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
		err = recv(t, "handler cancelled", cause)
		var ce *queue.CancelledError
		if !errors.Is(err, queue.ErrCancelled) || !errors.As(err, &ce) || ce.Reason != "not needed" {
			t.Fatalf("context cause %v, want a *CancelledError with the reason", err)
		}
		var got *queue.Job
		waitFor(t, "job failed", func() bool {
			got, err = q.Job(ctx, j.ID)
			return err == nil && got.State == queue.StateFailed
		})
		if got.FailedReason != backend.CancelFailure("not needed") || got.AttemptsMade != 1 {
			t.Errorf("cancelled job: reason %q attempts %d; want %q and 1, not retried", got.FailedReason, got.AttemptsMade, backend.CancelFailure("not needed"))
		}
	})
}

func TestSnoozeRunsTheJobAgainLaterWithoutUsingAnAttempt(t *testing.T) {
	controlStores(t, func(t *testing.T, clock *fakeclock.Clock, store backend.Full, q *queue.Queue) {
		ctx := context.Background()
		j, err := q.Add(ctx, "poll", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		runs := make(chan int, 2)
		var calls atomic.Int32
		startControlWorker(t, clock, store, q, func(ctx context.Context, job *queue.Job) ([]byte, error) {
			runs <- job.AttemptsMade
			if calls.Add(1) == 1 {
				return nil, queue.Snooze(30 * time.Second)
			}
			return []byte("done"), nil
		}, queue.WorkerOptions{})
		if made := recv(t, "first run", runs); made != 0 {
			t.Fatalf("first run with %d attempts made", made)
		}
		waitFor(t, "job snoozed", func() bool {
			got, err := q.Job(ctx, j.ID)
			return err == nil && got.State == queue.StateDelayed && got.AttemptsMade == 0
		})
		if err := clock.AwaitTimer(ctx, clock.Now().Add(30*time.Second), 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		if made := recv(t, "second run", runs); made != 0 {
			t.Errorf("second run with %d attempts made, want 0: a snooze uses up no attempt", made)
		}
		waitFor(t, "job completed", func() bool {
			got, err := q.Job(ctx, j.ID)
			return err == nil && got.State == queue.StateCompleted
		})
	})
}

func TestSnoozeDelayTellsASnoozeFromOtherErrors(t *testing.T) {
	if d, ok := queue.SnoozeDelay(fmt.Errorf("later: %w", queue.Snooze(time.Minute))); !ok || d != time.Minute {
		t.Errorf("a wrapped snooze: %v, %v; want 1m, true", d, ok)
	}
	if d, ok := queue.SnoozeDelay(queue.Snooze(-time.Second)); !ok || d != 0 {
		t.Errorf("a negative snooze: %v, %v; want 0, true", d, ok)
	}
	for _, err := range []error{nil, errors.New("boom"), queue.Unrecoverable(errors.New("bad"))} {
		if _, ok := queue.SnoozeDelay(err); ok {
			t.Errorf("SnoozeDelay(%v) reports a snooze", err)
		}
	}
}

func TestQueueDefaultsApplyWhereAnAddLeavesThemZero(t *testing.T) {
	controlStores(t, func(t *testing.T, clock *fakeclock.Clock, store backend.Full, _ *queue.Queue) {
		ctx := context.Background()
		q, err := queue.New(store, "defaults", &queue.Options{Clock: clock, Defaults: &queue.AddOptions{
			Attempts: 4, Timeout: time.Minute, KeepCompleted: queue.Retention{Count: 10}, Priority: 9,
		}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := q.Add(ctx, "a", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := q.Add(ctx, "b", nil, &queue.AddOptions{Attempts: 1, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if a.Attempts != 4 || a.Timeout != time.Minute || a.KeepCompleted.Count != 10 || a.Priority != 0 {
			t.Errorf("job with no options: %+v; want the defaults, but not a priority", a.Job)
		}
		if b.Attempts != 1 || b.Timeout != time.Second || b.KeepCompleted.Count != 10 {
			t.Errorf("job with options: %+v; want its own attempts and timeout, the default retention", b.Job)
		}
	})
}

func TestJobControlThroughTheQueue(t *testing.T) {
	controlStores(t, func(t *testing.T, clock *fakeclock.Clock, store backend.Full, q *queue.Queue) {
		ctx := context.Background()
		var ids []string
		for i := range 3 {
			j, err := q.Add(ctx, fmt.Sprint(i), nil, &queue.AddOptions{Delay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		if err := q.ChangeDelay(ctx, ids[0], 0); err != nil {
			t.Fatal(err)
		}
		if err := q.Promote(ctx, ids[0]); !errors.Is(err, queue.ErrWrongState) {
			t.Errorf("Promote of a waiting job = %v, want ErrWrongState", err)
		}
		if n, err := q.PromoteJobs(ctx, 0); err != nil || n != 2 {
			t.Errorf("PromoteJobs = %d, %v; want the 2 delayed jobs", n, err)
		}
		if err := q.UpdateData(ctx, ids[1], []byte("new")); err != nil {
			t.Fatal(err)
		}
		if j, _ := q.Job(ctx, ids[1]); string(j.Data) != "new" {
			t.Errorf("data %q after UpdateData", j.Data)
		}
		if err := q.Cancel(ctx, ids[2], ""); err != nil {
			t.Fatal(err)
		}
		if n, err := q.RetryJobs(ctx, queue.StateFailed, 0); err != nil || n != 1 {
			t.Errorf("RetryJobs = %d, %v; want the cancelled job", n, err)
		}
		if j, _ := q.Job(ctx, ids[2]); j.State != queue.StateWaiting || j.FailedReason != "" {
			t.Errorf("retried job %+v", j.Job)
		}
		id, err := q.Publish(ctx, "deployed", []byte("v3"))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := q.Subscribe(ctx, queue.FromID(id-1), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if e := nextEventOf(t, sub); e.Type != queue.EventPublished || e.Name != "deployed" || string(e.Data) != "v3" {
			t.Errorf("event %+v, want the published one", e)
		}
		if err := q.ChangePriority(ctx, "ghost", 1); !errors.Is(err, queue.ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
			t.Errorf("ChangePriority of an unknown job = %v", err)
		}
	})
}

func nextEventOf(t *testing.T, s *queue.Subscription) queue.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
