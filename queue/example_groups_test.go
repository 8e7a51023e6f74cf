package queue_test

import (
	"context"
	"fmt"
	"log"

	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/exampletb"
	"github.com/droverhq/drover/queue"
)

// Groups: a tenant that adds a thousand exports does not make the others
// wait behind them; each tenant runs one export at a time.
func ExampleQueue_SetGroupLimits() {
	t := exampletb.New() // in a test, the test's *testing.T
	defer t.Finish()
	env := drovertest.New(t, nil)
	q := env.Queue("exports")
	ctx := context.Background()

	if err := q.SetGroupLimits(ctx, queue.Limits{Concurrency: 1}); err != nil {
		log.Fatal(err)
	}
	add := func(tenant string, n int) {
		for i := range n {
			if _, err := q.Add(ctx, "export", fmt.Appendf(nil, "%s-%d", tenant, i), &queue.AddOptions{Group: tenant}); err != nil {
				log.Fatal(err)
			}
		}
	}
	add("acme", 1000)
	add("globex", 2)
	add("initech", 1)
	w := env.Worker("exports", func(ctx context.Context, job *queue.Job) ([]byte, error) {
		fmt.Println(string(job.Data))
		return nil, nil
	}, nil)
	for range 6 {
		env.RunNext(w)
	}
	res, err := q.Groups(ctx, "", 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, g := range res.Groups {
		fmt.Println(g.Name, "waiting:", g.Waiting)
	}
	// Output:
	// acme-0
	// globex-0
	// initech-0
	// acme-1
	// globex-1
	// acme-2
	// acme waiting: 997
}
