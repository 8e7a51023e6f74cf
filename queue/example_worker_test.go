package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
)

// A worker runs the jobs of a queue kept in a bbolt file. Run blocks until
// its context is cancelled; it then stops gracefully, and every attempt has
// been recorded by the time it returns.
func ExampleWorker() {
	dir, err := os.MkdirTemp("", "drover-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := bolt.Open(filepath.Join(dir, "jobs.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ctx := context.Background()
	q, err := queue.New(store, "emails", nil)
	if err != nil {
		log.Fatal(err)
	}
	type welcome struct{ To string }
	var ids []string
	for _, to := range []string{"ada@example.com", "grace@example.com", "edsger@example.com"} {
		job, err := queue.AddJSON(ctx, q, "welcome", welcome{To: to}, nil)
		if err != nil {
			log.Fatal(err)
		}
		ids = append(ids, job.ID)
	}

	var handled sync.WaitGroup
	handled.Add(len(ids))
	w, err := queue.NewWorker(store, "emails", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		defer handled.Done()
		msg, err := queue.DataAs[welcome](job)
		if err != nil {
			return nil, queue.Unrecoverable(err)
		}
		return []byte("sent to " + msg.To), nil
	}, &queue.WorkerOptions{Concurrency: 2})
	if err != nil {
		log.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(runCtx) }()
	handled.Wait()
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	for _, id := range ids {
		job, err := q.Job(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s, %q\n", job.Name, job.State, job.Result)
	}
	// Output:
	// welcome: completed, "sent to ada@example.com"
	// welcome: completed, "sent to grace@example.com"
	// welcome: completed, "sent to edsger@example.com"
}

// A failed attempt is retried with the job's backoff while attempts remain;
// an error wrapped with Unrecoverable fails the job at once. Start and Stop
// run a worker in the background.
func ExampleWorker_Stop() {
	dir, err := os.MkdirTemp("", "drover-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := bolt.Open(filepath.Join(dir, "jobs.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ctx := context.Background()
	q, err := queue.New(store, "payments", nil)
	if err != nil {
		log.Fatal(err)
	}
	retry := &queue.AddOptions{Attempts: 3, Backoff: queue.ExponentialBackoff(10*time.Millisecond, 0.5)}
	flaky, err := q.Add(ctx, "charge", []byte(`{"cents":1200}`), retry)
	if err != nil {
		log.Fatal(err)
	}
	bad, err := q.Add(ctx, "refund", []byte(`{"cents":-5}`), retry)
	if err != nil {
		log.Fatal(err)
	}

	var attempts sync.WaitGroup
	attempts.Add(3) // two for the charge, one for the refund
	w, err := queue.NewWorker(store, "payments", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		defer attempts.Done()
		switch {
		case job.Name == "refund":
			return nil, queue.Unrecoverable(errors.New("negative amount"))
		case job.AttemptsMade == 0:
			return nil, errors.New("gateway busy")
		}
		return []byte(`{"ok":true}`), nil
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		log.Fatal(err)
	}
	attempts.Wait()
	if err := w.Stop(ctx); err != nil {
		log.Fatal(err)
	}

	for _, id := range []string{flaky.ID, bad.ID} {
		job, err := q.Job(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		outcome := string(job.Result)
		if job.State == queue.StateFailed {
			outcome = job.FailedReason
		}
		fmt.Printf("%s: %s after %d attempts: %s\n", job.Name, job.State, job.AttemptsMade, outcome)
	}
	// Output:
	// charge: completed after 2 attempts: {"ok":true}
	// refund: failed after 1 attempts: negative amount
}
