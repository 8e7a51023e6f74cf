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

// A job scheduler that runs a report at 09:00 Paris time on weekdays.
// Upserting it again with new data (for example from the handler of an
// iteration) changes what the next run gets, without moving the run. The
// clock here is drovertest's, which starts on Tuesday 1 January 2030 at
// midnight UTC, and which RunNext moves on to the next run.
func ExampleQueue_UpsertJobScheduler() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("reports")
	ctx := context.Background()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		log.Fatal(err)
	}

	repeat := queue.Repeat{Pattern: "0 9 * * 1-5", TZ: "Europe/Paris"}
	s, err := q.UpsertJobScheduler(ctx, "daily-report", repeat, queue.JobTemplate{
		Name: "report",
		Data: []byte(`{"etag":"v1"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next run:", s.Next.In(paris).Format(time.DateTime))

	s2, err := q.UpsertJobScheduler(ctx, "daily-report", repeat, queue.JobTemplate{
		Name: "report",
		Data: []byte(`{"etag":"v2"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run time kept:", s2.Next.Equal(s.Next))

	w := env.Worker("reports", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		fmt.Printf("report run at %s with %s\n", env.Clock.Now().In(paris).Format(time.DateTime), job.Data)
		return nil, nil
	}, nil)
	env.RunNext(w)
	env.RunNext(w)

	_, err = q.UpsertJobScheduler(ctx, "bad", queue.Repeat{Pattern: "every day"}, queue.JobTemplate{Name: "report"})
	fmt.Println("invalid pattern rejected:", errors.Is(err, queue.ErrInvalid))

	if err := q.RemoveJobScheduler(ctx, "daily-report"); err != nil {
		log.Fatal(err)
	}
	list, err := q.JobSchedulers(ctx, queue.Page{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("schedulers left:", len(list))
	// Output:
	// next run: 2030-01-01 09:00:00
	// run time kept: true
	// report run at 2030-01-01 09:00:00 with {"etag":"v2"}
	// report run at 2030-01-02 09:00:00 with {"etag":"v2"}
	// invalid pattern rejected: true
	// schedulers left: 0
}
