package queue_test

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// Dedup: one sync per user at a time. While the first job is unfinished,
// adds with its key return it instead of making another.
func ExampleDedup() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("sync")
	ctx := context.Background()

	opts := &queue.AddOptions{Dedup: queue.Dedup{Key: "user-42"}}
	first, err := q.Add(ctx, "sync-user", []byte(`{"user":42}`), opts)
	if err != nil {
		log.Fatal(err)
	}
	again, err := q.Add(ctx, "sync-user", []byte(`{"user":42}`), opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(again.ID == first.ID, again.Duplicate, again.Dedup)

	w := env.Worker("sync", func(ctx context.Context, job *queue.Job) ([]byte, error) { return nil, nil }, nil)
	env.RunNext(w)
	// Finished: the key is free again.
	next, err := q.Add(ctx, "sync-user", []byte(`{"user":42}`), opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(next.ID == first.ID, next.Duplicate)
	// Output:
	// true true ignored
	// false false
}

// Debounce: a burst of adds runs once, a second after the last one, with
// the last one's data.
func ExampleDedup_debounce() {
	t := exampletb.New()
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("search")
	ctx := context.Background()

	opts := &queue.AddOptions{Delay: time.Second, Dedup: queue.Dedup{Key: "reindex", Mode: queue.DedupDebounce}}
	for _, doc := range []string{"a", "b", "c"} {
		j, err := q.Add(ctx, "reindex", []byte(doc), opts)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(j.ID, cmp.Or(string(j.Dedup), "made"))
		env.Clock.Advance(500 * time.Millisecond) // the next edit comes before the delay runs out
	}
	env.Clock.Advance(time.Second)
	w := env.Worker("search", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		fmt.Printf("reindex with %s\n", job.Data)
		return nil, nil
	}, nil)
	env.RunNext(w)
	counts, err := q.Counts(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("completed:", counts.Completed)
	// Output:
	// 1 made
	// 1 replaced
	// 1 replaced
	// reindex with c
	// completed: 1
}

// Throttle: at most one report an hour, however often it is asked for.
func ExampleDedup_throttle() {
	t := exampletb.New()
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("reports")
	ctx := context.Background()

	opts := &queue.AddOptions{Dedup: queue.Dedup{Key: "daily", Mode: queue.DedupThrottle, TTL: time.Hour}}
	made := 0
	for range 4 {
		j, err := q.Add(ctx, "report", nil, opts)
		if err != nil {
			log.Fatal(err)
		}
		if !j.Duplicate {
			made++
		}
		env.Clock.Advance(25 * time.Minute)
	}
	fmt.Println("jobs made in 100 minutes:", made)
	// Output:
	// jobs made in 100 minutes: 2
}
