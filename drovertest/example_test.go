package drovertest_test

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

// Reminder is a typed job: an email sent to To when it falls due.
type Reminder struct {
	To string `json:"to"`
}

func (Reminder) Kind() string { return "reminder" }

// remindTomorrow is code under test: it adds a reminder due in a day,
// retried an hour after a failure.
func remindTomorrow(ctx context.Context, q *queue.Queue, to string) error {
	_, err := queue.AddArgs(ctx, q, Reminder{To: to}, &queue.AddOptions{
		Delay:    24 * time.Hour,
		Attempts: 3,
		Backoff:  queue.FixedBackoff(time.Hour),
	})
	return err
}

// sendReminder is the handler under test. Its mail server is busy the
// first time.
func sendReminder(ctx context.Context, job *queue.JobOf[Reminder]) error {
	if job.AttemptsMade == 0 {
		return errors.New("smtp: 421 try again later")
	}
	return nil
}

// A test of a job that is delayed a day and retried an hour after its
// first attempt fails. The Env's clock moves on to each attempt, so the
// test takes a few milliseconds; the handler runs with its real
// middleware, on the test's goroutine.
func Example() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()

	env := drovertest.New(t, nil)
	q := env.Queue("reminders")
	if err := remindTomorrow(t.Context(), q, "ada@example.com"); err != nil {
		t.Fatalf("remindTomorrow: %v", err)
	}
	drovertest.RequireAdded(t, q, Reminder{To: "ada@example.com"})

	router, err := queue.NewRouter(queue.Handle(sendReminder))
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	w := env.Worker("reminders", router.Handler(), nil)
	start := env.Clock.Now()
	for _, job := range env.RunFor(w, 48*time.Hour) {
		outcome := string(job.State)
		if job.State != queue.StateCompleted {
			outcome += " after " + job.FailedReason
		}
		fmt.Printf("%v on, attempt %d: %s\n", job.ProcessedAt.Sub(start), job.AttemptsMade, outcome)
	}
	// Output:
	// 24h0m0s on, attempt 1: delayed after smtp: 421 try again later
	// 25h0m0s on, attempt 2: completed
}

// RunNext runs one job, moving the clock on to it if it is not due yet,
// and returns nil when no job is left.
func ExampleEnv_RunNext() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()

	env := drovertest.New(t, nil)
	q := env.Queue("reminders")
	for _, to := range []string{"ada@example.com", "grace@example.com"} {
		if err := remindTomorrow(t.Context(), q, to); err != nil {
			log.Fatal(err)
		}
	}
	w := env.Worker("reminders", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		args, err := queue.ArgsOf[Reminder](job)
		return []byte("sent to " + args.To), err
	}, nil)
	start := env.Clock.Now()
	for job := env.RunNext(w); job != nil; job = env.RunNext(w) {
		fmt.Printf("after %v: %s, %s\n", env.Clock.Now().Sub(start), job.State, job.Result)
	}
	// Output:
	// after 24h0m0s: completed, sent to ada@example.com
	// after 24h0m0s: completed, sent to grace@example.com
}
