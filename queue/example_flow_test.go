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

// A flow: the parent waits until its children have ended, then runs and
// reads their results with Job.ChildrenValues. Children may live in other
// queues of the same store.
func ExampleQueue_AddFlow() {
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
	q, err := queue.New(store, "orders", nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	node, err := q.AddFlow(ctx, queue.Flow{
		Name:    "ship",
		Options: &queue.AddOptions{ID: "order-17"},
		Children: []queue.Flow{
			{Name: "charge", Queue: "payments"},
			{Name: "pack"},
			{Name: "gift-wrap", FailurePolicy: queue.PolicyIgnore},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(node.Job.ID, node.Job.State)
	deps, err := node.Job.Dependencies(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for i, d := range deps {
		fmt.Println(" ", node.Children[i].Job.Name, "in", d.Ref.Queue+":", d.State)
	}
	// Output:
	// order-17 waiting-children
	//   charge in payments: waiting
	//   pack in orders: waiting
	//   gift-wrap in orders: waiting
}
