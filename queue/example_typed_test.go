package queue_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// Welcome is the arguments of a typed job: its Kind names the jobs, and it
// is their data, as JSON.
type Welcome struct {
	To string `json:"to"`
}

func (Welcome) Kind() string { return "welcome" }

// Resize has add options of its own.
type Resize struct {
	Image string `json:"image"`
	Width int    `json:"width"`
}

func (Resize) Kind() string { return "resize" }

func (Resize) AddOptions() queue.AddOptions {
	return queue.AddOptions{Attempts: 3, Timeout: time.Minute}
}

// Typed jobs: AddArgs adds a job of the kind of its arguments, and a
// Router runs each job with the route of its name, the arguments decoded.
// Middleware wraps the worker's handler, and each route may have its own.
// A job whose data does not decode fails at once with ErrDecode; one with
// a name no route serves fails with ErrNoHandler.
func ExampleHandle() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("work")
	ctx := context.Background()

	if _, err := queue.AddArgs(ctx, q, Welcome{To: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}
	if _, err := queue.AddArgs(ctx, q, Resize{Image: "cat.png", Width: 200}, nil); err != nil {
		log.Fatal(err)
	}
	if _, err := q.Add(ctx, "welcome", []byte(`{"to":42}`), nil); err != nil { // bad data
		log.Fatal(err)
	}
	if _, err := q.Add(ctx, "tweet", nil, nil); err != nil { // no route
		log.Fatal(err)
	}

	logJobs := func(next queue.Handler) queue.Handler {
		return func(ctx context.Context, job *queue.Job) ([]byte, error) {
			res, err := next(ctx, job)
			switch {
			case errors.Is(err, queue.ErrDecode):
				fmt.Printf("job %s: bad data\n", job.ID)
			case errors.Is(err, queue.ErrNoHandler):
				fmt.Printf("job %s: no handler for %q\n", job.ID, job.Name)
			case err != nil:
				fmt.Printf("job %s: %v\n", job.ID, err)
			}
			return res, err
		}
	}
	router, err := queue.NewRouter(
		queue.Handle(func(ctx context.Context, job *queue.JobOf[Welcome]) error {
			fmt.Printf("job %s: welcome %s\n", job.ID, job.Args.To)
			return nil
		}),
		queue.HandleResult(func(ctx context.Context, job *queue.JobOf[Resize]) (string, error) {
			fmt.Printf("job %s: resize %s to %dpx, attempt %d of %d\n", job.ID, job.Args.Image, job.Args.Width, job.AttemptsMade+1, job.Attempts)
			return strings.Replace(job.Args.Image, ".png", "-200.png", 1), nil
		}, queue.Timeout(10*time.Second)),
	)
	if err != nil {
		log.Fatal(err)
	}
	w := env.Worker("work", router.Handler(), &queue.WorkerOptions{Middleware: []queue.Middleware{logJobs}})
	ran := env.RunReady(w)
	for _, job := range ran {
		fmt.Printf("%s %s %s, result %s\n", job.Name, job.ID, job.State, cmp.Or(string(job.Result), "none"))
	}
	// Output:
	// job 1: welcome ada@example.com
	// job 2: resize cat.png to 200px, attempt 1 of 3
	// job 3: bad data
	// job 4: no handler for "tweet"
	// welcome 1 completed, result none
	// resize 2 completed, result "cat-200.png"
	// welcome 3 failed, result none
	// tweet 4 failed, result none
}

// A worker of several queues. Under strict priority it takes jobs from
// the first queue that has one ready, so the urgent job added last runs
// first; without it, the queues take turns by weight.
func ExampleNewMultiWorker() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	ctx := context.Background()
	for _, job := range []struct{ queue, name string }{{"bulk", "thumbnail"}, {"bulk", "thumbnail"}, {"urgent", "alert"}} {
		if _, err := env.Queue(job.queue).Add(ctx, job.name, nil, nil); err != nil {
			log.Fatal(err)
		}
	}
	w, err := queue.NewMultiWorker(env.Store, []queue.WorkerQueue{{Name: "urgent"}, {Name: "bulk"}},
		func(ctx context.Context, job *queue.Job) ([]byte, error) { return nil, nil },
		&queue.WorkerOptions{Clock: env.Clock, StrictPriority: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, job := range env.RunReady(w) {
		fmt.Println(job.Queue, job.Name)
	}
	// Output:
	// urgent alert
	// bulk thumbnail
	// bulk thumbnail
}
