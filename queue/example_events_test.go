package queue_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
)

// A subscription from now sees every event of every change made after
// Subscribe returns; its cursor lets another subscription resume exactly
// where it stopped.
func ExampleQueue_Subscribe() {
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
