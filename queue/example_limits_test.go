package queue_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// SetLimits: an API that allows 2 calls a second, and 1 at a time, is
// called at most that fast by every worker of every process together.
func ExampleQueue_SetLimits() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("geocode")
	ctx := context.Background()

	if err := q.SetLimits(ctx, queue.Limits{Concurrency: 1, Rate: 2, RatePer: time.Second}); err != nil {
		log.Fatal(err)
	}
	for _, city := range []string{"Lyon", "Turin", "Ghent", "Cork", "Graz"} {
		if _, err := q.Add(ctx, "geocode", []byte(city), nil); err != nil {
			log.Fatal(err)
		}
	}
	start := env.Clock.Now()
	w := env.Worker("geocode", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		fmt.Printf("%s at +%v\n", job.Data, env.Clock.Now().Sub(start))
		return nil, nil
	}, nil)
	for env.RunNext(w) != nil {
	}
	// Output:
	// Lyon at +0s
	// Turin at +0s
	// Ghent at +1s
	// Cork at +1s
	// Graz at +2s
}

// RateLimited: the API answers "too many requests, retry in 30s"; the job
// waits again without using up an attempt, and no worker starts another
// job of the queue for 30 seconds.
func ExampleRateLimited() {
	t := exampletb.New()
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("sms")
	ctx := context.Background()

	for _, to := range []string{"+33 1", "+33 2"} {
		if _, err := q.Add(ctx, "send", []byte(to), nil); err != nil {
			log.Fatal(err)
		}
	}
	start := env.Clock.Now()
	refused := false
	w := env.Worker("sms", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if !refused {
			refused = true
			return nil, queue.RateLimited(30 * time.Second)
		}
		fmt.Printf("sent to %s at +%v, attempt %d\n", job.Data, env.Clock.Now().Sub(start), job.AttemptsMade+1)
		return nil, nil
	}, nil)
	for env.RunNext(w) != nil {
	}
	// Output:
	// sent to +33 1 at +30s, attempt 1
	// sent to +33 2 at +30s, attempt 1
}
