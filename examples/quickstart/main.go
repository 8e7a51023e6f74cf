// Command quickstart adds a job to a queue kept in a bbolt file, and runs
// a worker on the queue until Ctrl-C.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
)

// Welcome is the arguments of a job; its Kind is the job's name.
type Welcome struct {
	To string `json:"to"`
}

// Kind names the jobs of Welcome arguments.
func (Welcome) Kind() string { return "welcome" }

func main() {
	// Ctrl-C cancels ctx: the worker stops taking jobs, and lets the
	// running ones finish (or, after its shutdown timeout, puts them back).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, "jobs.db", os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, path string, out io.Writer) (err error) {
	store, err := bolt.Open(path, nil) // or redis.New(goredisClient, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()

	q, err := queue.New(store, "emails", nil)
	if err != nil {
		return err
	}
	_, err = queue.AddArgs(ctx, q, Welcome{To: "ada@example.com"}, &queue.AddOptions{
		Attempts: 5,
		Backoff:  queue.ExponentialBackoff(time.Second, 0.2),
		Timeout:  30 * time.Second,
	})
	if err != nil {
		return err
	}

	router, err := queue.NewRouter(
		queue.Handle(func(ctx context.Context, job *queue.JobOf[Welcome]) error {
			// Send the email. An error retries the job with backoff;
			// queue.Unrecoverable(err) fails it at once.
			_, err := fmt.Fprintf(out, "welcome email sent to %s\n", job.Args.To)
			return err
		}),
	)
	if err != nil {
		return err
	}
	w, err := queue.NewWorker(store, "emails", router.Handler(), &queue.WorkerOptions{Concurrency: 8})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "working; press Ctrl-C to stop")
	return w.Run(ctx) // until ctx is cancelled
}
