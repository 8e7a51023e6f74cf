package redis

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// billing places the queues invoices and receipts under the slot tag
// "billing"; every other queue keeps a slot of its own.
func billing(q string) string {
	if q == "invoices" || q == "receipts" {
		return "billing"
	}
	return ""
}

// TestSlotTagOnCluster: on a Cluster client a flow across queues under
// one slot tag is added and runs, a child telling its parent in the
// other queue; one across slots is refused with ErrUnsupported and
// writes nothing; Queues lists tagged queues by their names.
func TestSlotTagOnCluster(t *testing.T) {
	s := redistest.Start(t, &redistest.Options{Cluster: true})
	c := s.ClusterClient(t, nil)
	b, err := New(c, &Options{Prefix: "st", SlotTag: billing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	if b.HashTag("invoices") != "{st:billing}" || b.HashTag("receipts") != "{st:billing}" || b.HashTag("mail") != "{st:mail}" {
		t.Fatalf("hash tags %s %s %s", b.HashTag("invoices"), b.HashTag("receipts"), b.HashTag("mail"))
	}

	across := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "send", ID: "p2", Children: []backend.NewJob{{Name: "render", Queue: "mail"}}}}}
	if _, err := b.Add(ctx, "invoices", across); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("a flow across slots = %v, want ErrUnsupported", err)
	}
	if _, err := b.Job(ctx, "invoices", "p2"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("the refused flow's parent: %v, want ErrNotFound", err)
	}

	res, err := b.Add(ctx, "invoices", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "send", ID: "p", Children: []backend.NewJob{{Name: "print", Queue: "receipts"}}}}})
	if err != nil {
		t.Fatalf("a flow under one slot tag: %v", err)
	}
	child := res.Jobs[0].Children[0]
	if child.Queue != "receipts" {
		t.Fatalf("child %+v", child)
	}
	l, err := b.Lease(ctx, "receipts", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	if err != nil || len(l.Jobs) != 1 {
		t.Fatalf("lease of the child: %+v, %v", l, err)
	}
	if _, err := b.Settle(ctx, "receipts", &backend.SettleRequest{Settlements: []backend.Settlement{complete(l.Jobs[0], "printed")}}); err != nil {
		t.Fatal(err)
	}
	// The parent hears of its child by the next lease of its queue.
	l, err = b.Lease(ctx, "invoices", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != "p" {
		t.Fatalf("lease of the parent: %+v, %v", l, err)
	}
	if o := l.Jobs[0].ChildOutcomes[backend.JobRef{Queue: "receipts", ID: child.ID}.String()]; string(o.Result) != "printed" {
		t.Fatalf("the parent's child outcomes: %+v", l.Jobs[0].ChildOutcomes)
	}
	if err := b.SetPaused(ctx, "mail", true); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Queues(ctx); err != nil || !slices.Equal(got, []string{"invoices", "mail", "receipts"}) {
		t.Fatalf("Queues = %v, %v", got, err)
	}
}

// TestSlotTagInvalid: a slot tag that could not name a queue is refused
// before anything is written, for a queue and for a flow's child queue.
func TestSlotTagInvalid(t *testing.T) {
	_, c := redistest.Mini(t)
	b, err := New(c, &Options{SlotTag: func(q string) string {
		if q == "bad" {
			return "a{b}"
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var v *backend.ValidationError
	if _, err := b.Add(ctx, "bad", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); !errors.As(err, &v) || v.Field != "SlotTag" || !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("Add to a queue with a bad slot tag = %v", err)
	}
	if _, err := b.Add(ctx, "good", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Children: []backend.NewJob{{Name: "c", Queue: "bad"}}}}}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("Add of a child to a queue with a bad slot tag = %v", err)
	}
	if keys, _ := c.Keys(ctx, "*").Result(); len(keys) != 0 {
		t.Fatalf("keys written: %v", keys)
	}
}
