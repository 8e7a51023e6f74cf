package queue_test

import (
	"context"
	"fmt"
	"log"
	"maps"
	"slices"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// A flow: the parent waits until its children have ended, then runs and
// reads their results with Job.ChildrenValues. Children may live in other
// queues of the same store.
func ExampleQueue_AddFlow() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("orders")
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

	work := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		if job.Name == "ship" {
			done := slices.Sorted(maps.Keys(job.ChildrenValues()))
			fmt.Println("ship after", done)
		}
		return []byte("ok"), nil
	}
	env.RunReady(env.Worker("payments", work, nil))
	env.RunReady(env.Worker("orders", work, nil))
	// Output:
	// order-17 waiting-children
	//   charge in payments: waiting
	//   pack in orders: waiting
	//   gift-wrap in orders: waiting
	// ship after [orders/2 orders/3 payments/1]
}
