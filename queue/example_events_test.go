package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// A subscription from now sees every event of every change made after
// Subscribe returns; its cursor lets another subscription resume exactly
// where it stopped.
func ExampleQueue_Subscribe() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	store := drovertest.NewStore(t, nil)
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	sub, err := q.Subscribe(ctx, queue.FromNow(), nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := q.Add(ctx, "welcome", []byte(`{"to":"ada@example.com"}`), nil); err != nil {
		log.Fatal(err)
	}
	if _, err := q.Add(ctx, "welcome", []byte(`{"to":"alan@example.com"}`), nil); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		e, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Type, e.Name)
	}
	cursor := sub.Cursor() // save it anywhere
	sub.Close()

	resumed, err := q.Subscribe(ctx, queue.FromID(cursor), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer resumed.Close()
	for e, err := range resumed.All() {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Type, e.Name)
		if e.Type == queue.EventWaiting {
			break
		}
	}
	// Output:
	// added welcome
	// waiting welcome
	// added welcome
	// waiting welcome
}

// WaitUntilFinished returns a job's result once a worker has completed it,
// also when that happened before the call.
func ExampleJob_WaitUntilFinished() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	store := drovertest.NewStore(t, nil)
	q, err := queue.New(store, "math", nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	w, err := queue.NewWorker(store, "math", func(ctx context.Context, j *queue.Job) ([]byte, error) {
		var xs []int
		if err := j.Decode(&xs); err != nil {
			return nil, queue.Unrecoverable(err)
		}
		sum := 0
		for _, x := range xs {
			sum += x
		}
		return fmt.Appendf(nil, "%d", sum), nil
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer w.Stop(ctx)

	job, err := q.Add(ctx, "sum", []byte(`[1,2,3]`), nil)
	if err != nil {
		log.Fatal(err)
	}
	res, err := job.WaitUntilFinished(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sum:", string(res))

	bad, err := q.Add(ctx, "sum", []byte(`"not a list"`), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = bad.WaitUntilFinished(ctx)
	fmt.Println("failed:", errors.Is(err, queue.ErrJobFailed))
	// Output:
	// sum: 6
	// failed: true
}
