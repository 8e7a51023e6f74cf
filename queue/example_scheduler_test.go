package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
)

// A job scheduler that runs a report at 09:00 Paris time on weekdays. Upserting
// it again with new data (for example from the handler of an iteration)
// changes what the next run gets, without moving the run.
func ExampleQueue_UpsertJobScheduler() {
	dir, err := os.MkdirTemp("", "drover-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := bolt.Open(filepath.Join(dir, "queue.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	q, err := queue.New(store, "reports", nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	repeat := queue.Repeat{Pattern: "0 9 * * 1-5", TZ: "Europe/Paris"}
	s, err := q.UpsertJobScheduler(ctx, "daily-report", repeat, queue.JobTemplate{
		Name: "report",
		Data: []byte(`{"etag":"v1"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	next := s.Next.In(paris)
	fmt.Println("next run at", next.Format("15:04"), "on a weekday:", next.Weekday() != time.Saturday && next.Weekday() != time.Sunday)

	s2, err := q.UpsertJobScheduler(ctx, "daily-report", repeat, queue.JobTemplate{
		Name: "report",
		Data: []byte(`{"etag":"v2"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run time kept:", s2.Next.Equal(s.Next))
	fmt.Println("next run gets:", string(s2.Template.Data))

	_, err = q.UpsertJobScheduler(ctx, "bad", queue.Repeat{Pattern: "every day"}, queue.JobTemplate{Name: "report"})
	fmt.Println("invalid pattern rejected:", errors.Is(err, queue.ErrInvalid))

	if err := q.RemoveJobScheduler(ctx, "daily-report"); err != nil {
		log.Fatal(err)
	}
	list, _ := q.JobSchedulers(ctx, queue.Page{})
	fmt.Println("schedulers left:", len(list))
	// Output:
	// next run at 09:00 on a weekday: true
	// run time kept: true
	// next run gets: {"etag":"v2"}
	// invalid pattern rejected: true
	// schedulers left: 0
}
