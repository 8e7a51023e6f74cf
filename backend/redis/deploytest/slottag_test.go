package deploytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// TestFlowUnderSlotTagOnCluster runs a flow across two queues that share
// a slot tag on a Cluster of three masters, with workers on both queues:
// the parent runs after its children and sees their results. A flow
// across queues of different slots, on other masters, is refused with
// ErrUnsupported and writes nothing.
func TestFlowUnderSlotTagOnCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, nil)
	tag := func(q string) string {
		if q == "invoices" || q == "receipts" {
			return "billing"
		}
		return ""
	}
	store := open(t, c.Client(t, &goredis.ClusterOptions{PoolSize: 32}), &redis.Options{Prefix: "flow", SlotTag: tag})
	ctx := context.Background()
	// other is a queue on another master than the billing queues.
	billingMaster := c.MasterOfKey(t, store.HashTag("invoices"))
	if c.MasterOfKey(t, store.HashTag("receipts")) != billingMaster {
		t.Fatal("invoices and receipts are on different masters")
	}
	other := ""
	for _, q := range []string{"mail", "sms", "push", "chat"} {
		if c.MasterOfKey(t, store.HashTag(q)) != billingMaster {
			other = q
			break
		}
	}

	_, err := store.Add(ctx, "invoices", &backend.AddRequest{Jobs: []backend.NewJob{
		{Name: "send", ID: "refused", Children: []backend.NewJob{{Name: "render", Queue: other}}}}})
	if !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("a flow across slots = %v, want ErrUnsupported", err)
	}
	if _, err := store.Job(ctx, "invoices", "refused"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("the refused flow's parent: %v, want ErrNotFound", err)
	}

	q, err := queue.New(store, "invoices", nil)
	if err != nil {
		t.Fatal(err)
	}
	children := []queue.Flow{{Queue: "receipts", Name: "print", Data: []byte("1")}, {Queue: "receipts", Name: "print", Data: []byte("2")}}
	if _, err := q.AddFlow(ctx, queue.Flow{Name: "send", Options: &queue.AddOptions{ID: "invoice-1"}, Children: children}); err != nil {
		t.Fatalf("a flow under one slot tag: %v", err)
	}
	results := make(chan string, 1)
	run := func(name string, h queue.Handler) {
		w, err := queue.NewWorker(store, name, h, &queue.WorkerOptions{LeaseWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Stop(context.Background()) })
	}
	run("receipts", func(ctx context.Context, j *queue.Job) ([]byte, error) {
		return append([]byte("printed "), j.Data...), nil
	})
	run("invoices", func(ctx context.Context, j *queue.Job) ([]byte, error) {
		var got []string
		for _, v := range j.ChildrenValues() {
			got = append(got, string(v))
		}
		slices.Sort(got)
		results <- strings.Join(got, ";")
		return nil, nil
	})
	select {
	case got := <-results:
		if got != "printed 1;printed 2" {
			t.Fatalf("the parent saw %q", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the parent did not run")
	}
}
