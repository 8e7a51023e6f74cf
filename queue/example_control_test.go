package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// Retry: a job that failed for good goes back to waiting with its
// attempts reset, one job by ID or all of a state.
func ExampleQueue_Retry() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("invoices")
	ctx := context.Background()

	job, err := q.Add(ctx, "send", []byte("invoice-7"), nil)
	if err != nil {
		log.Fatal(err)
	}
	mailUp := false
	w := env.Worker("invoices", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if !mailUp {
			return nil, errors.New("mail server down")
		}
		return []byte("sent"), nil
	}, nil)
	first := env.RunNext(w)
	fmt.Println(first.State, first.FailedReason)

	mailUp = true
	if err := q.Retry(ctx, job.ID); err != nil {
		log.Fatal(err)
	}
	again := env.RunNext(w)
	fmt.Println(again.State, string(again.Result), "attempts made:", again.AttemptsMade)

	next, err := q.Add(ctx, "send", []byte("invoice-8"), nil)
	if err != nil {
		log.Fatal(err)
	}
	err = q.Retry(ctx, next.ID) // it is waiting: nothing to retry
	fmt.Println(errors.Is(err, queue.ErrWrongState))
	// Output:
	// failed mail server down
	// completed sent attempts made: 1
	// true
}

// Cancel: a waiting job fails at once; a running one has its handler's
// context cancelled, with a *CancelledError as the cause, at the worker's
// next renewal, and fails, not retried.
func ExampleQueue_Cancel() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("exports")
	ctx := context.Background()

	waiting, err := q.Add(ctx, "export", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := q.Cancel(ctx, waiting.ID, "customer left"); err != nil {
		log.Fatal(err)
	}
	got, err := q.Job(ctx, waiting.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.State, got.FailedReason)

	running, err := q.Add(ctx, "export", nil, &queue.AddOptions{Attempts: 3})
	if err != nil {
		log.Fatal(err)
	}
	w := env.Worker("exports", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		// Another process cancels the job while it runs...
		if err := q.Cancel(context.Background(), job.ID, "superseded"); err != nil {
			return nil, err
		}
		// ...and the worker learns of it at its next lease renewal, a
		// second on. A test moves the clock there.
		env.Clock.Advance(time.Second)
		<-ctx.Done()
		var ce *queue.CancelledError
		if errors.As(context.Cause(ctx), &ce) {
			fmt.Println("handler stopped:", ce.Reason)
		}
		return nil, ctx.Err()
	}, &queue.WorkerOptions{RenewEvery: time.Second})
	ended := env.RunNext(w)
	fmt.Println(ended.ID == running.ID, ended.State, ended.FailedReason, "attempts made:", ended.AttemptsMade)
	// Output:
	// failed job cancelled: customer left
	// handler stopped: superseded
	// true failed job cancelled: superseded attempts made: 1
}

// Snooze: a handler that cannot do its work yet puts its job back for a
// while, without using up one of its attempts.
func ExampleSnooze() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("reports")
	ctx := context.Background()

	if _, err := q.Add(ctx, "monthly", nil, nil); err != nil {
		log.Fatal(err)
	}
	ready := env.Clock.Now().Add(90 * time.Minute)
	w := env.Worker("reports", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if env.Clock.Now().Before(ready) {
			fmt.Println("not yet; attempts made:", job.AttemptsMade)
			return nil, queue.Snooze(time.Hour)
		}
		return []byte("report"), nil
	}, nil)
	for _, job := range env.RunFor(w, 3*time.Hour) {
		fmt.Println(job.State, "attempts made:", job.AttemptsMade)
	}
	// Output:
	// not yet; attempts made: 0
	// not yet; attempts made: 0
	// delayed attempts made: 0
	// delayed attempts made: 0
	// completed attempts made: 1
}
