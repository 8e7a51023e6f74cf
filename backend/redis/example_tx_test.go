package redis_test

import (
	"context"
	"fmt"
	"log"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis"
)

// InTx: an order is saved and its confirmation job enqueued in one
// MULTI/EXEC transaction, so that there is never an order without its
// confirmation, nor a confirmation of an order that was not saved.
func ExampleBackend_InTx() {
	srv, err := miniredis.Run() // an in-process Redis for the example
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer client.Close()
	store, err := redis.New(client, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()

	// The order's key carries the queue's hash tag, so that on Redis
	// Cluster it is in the queue's slot, as a transaction needs.
	order := "order:" + store.HashTag("emails") + ":1001"
	var confirm backend.TxAdd
	_, err = client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.HSet(ctx, order, "item", "teapot", "status", "placed")
		var err error
		confirm, err = store.InTx(pipe).Add(ctx, "emails", &backend.AddRequest{
			Jobs: []backend.NewJob{{Name: "confirm-order", Data: []byte("1001")}},
		})
		// An error here (bad input) queued nothing: returning it sends
		// nothing, neither the order nor the job.
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	// The add's result is known once EXEC has run.
	res, err := confirm.Result()
	if err != nil {
		log.Fatal(err)
	}
	status, err := client.HGet(ctx, order, "status").Result()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(order, status)
	job, err := store.Job(ctx, "emails", res.Jobs[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("job", job.ID, job.Name, string(job.Data), job.State)
	// Output:
	// order:{drover:emails}:1001 placed
	// job 1 confirm-order 1001 waiting
}
