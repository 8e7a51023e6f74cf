package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
	"go.etcd.io/bbolt"
)

// AddTx: an order is saved in the application's own bbolt bucket and its
// confirmation job is added in the same transaction, so there is never an
// order without its mail, nor a mail for an order that was rolled back.
func ExampleQueue_AddTx() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	ctx := context.Background()

	// The application's database, with its own buckets beside drover's.
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "shop.db"), 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := bolt.OpenDB(db, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close() // before db.Close, which the application owns
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		log.Fatal(err)
	}

	placeOrder := func(id string, paid bool) error {
		return db.Update(func(tx *bbolt.Tx) error {
			orders, err := tx.CreateBucketIfNotExists([]byte("orders"))
			if err != nil {
				return err
			}
			if err := orders.Put([]byte(id), []byte("2 books")); err != nil {
				return err
			}
			if _, err := q.AddTx(ctx, store.InTx(tx), "confirm", []byte(id), nil); err != nil {
				return err
			}
			if !paid {
				return errors.New("payment declined") // rolls back the order and its job
			}
			return nil
		})
	}
	fmt.Println(placeOrder("order-1", true))
	fmt.Println(placeOrder("order-2", false))

	waiting, err := q.Jobs(ctx, queue.StateWaiting, queue.Page{})
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range waiting {
		fmt.Println(j.Name, string(j.Data))
	}
	// Output:
	// <nil>
	// payment declined
	// confirm order-1
}
