package bolt

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// lineEntries counts the entries of group name's line in queue, and how
// many of them are stale.
func lineEntries(t *testing.T, b *Backend, queue, name string) (all, stale int) {
	t.Helper()
	err := b.db.View(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		gs, err := q.groups(false)
		if err != nil {
			return err
		}
		prefix := lineKey(name, nil)
		c := gs.b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			all++
			live, err := q.waitsAt(k[len(prefix):], v)
			if err != nil {
				return err
			}
			if !live {
				stale++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, stale
}

func TestLeasesSweepTheStaleEntriesOfALineAndAnEmptyGroupHasNone(t *testing.T) {
	b := openTest(t, nil)
	if err := b.SetGroupLimits(ctx, "q", backend.Limits{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	const jobs = 3*staleSweep + 5
	nj := make([]backend.NewJob, jobs)
	for i := range nj {
		nj[i] = backend.NewJob{Name: "n", Group: "g"}
	}
	if _, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: nj}); err != nil {
		t.Fatal(err)
	}
	swept := false
	for done := range jobs {
		got := lease(t, b, "q", 10)
		if len(got) != 1 {
			t.Fatalf("after %d jobs: leased %d jobs of a group of concurrency 1, want 1", done, len(got))
		}
		all, stale := lineEntries(t, b, "q", "g")
		if waiting := jobs - done - 1; all-stale != waiting {
			t.Fatalf("after %d jobs: the line holds %d jobs not stale, want the %d waiting", done+1, all-stale, waiting)
		}
		if stale > staleSweep {
			t.Fatalf("after %d jobs: %d stale entries in the line; leases sweep them at %d", done+1, stale, staleSweep)
		}
		swept = swept || (done > 0 && stale == 1)
		if errs := settle(t, b, "q", backend.Settlement{Lease: got[0].Lease, Outcome: backend.OutcomeComplete}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	if !swept {
		t.Error("no lease swept the line's stale entries")
	}
	if all, _ := lineEntries(t, b, "q", "g"); all != 0 {
		t.Errorf("the line of a group with no job waiting holds %d entries, want none", all)
	}
}

// A lease skips the stale entries at the head of a line by their count;
// jobs placed before them (LIFO) must still run first, in their order.
func TestJobsPlacedAmongStaleEntriesRunFirst(t *testing.T) {
	b := openTest(t, nil)
	nj := make([]backend.NewJob, 4)
	for i := range nj {
		nj[i] = backend.NewJob{Name: fmt.Sprint("n", i), Group: "g"}
	}
	add(t, b, "q", nj...)
	run := func() string {
		t.Helper()
		got := lease(t, b, "q", 1)
		if len(got) != 1 {
			t.Fatalf("leased %d jobs, want 1", len(got))
		}
		if errs := settle(t, b, "q", backend.Settlement{Lease: got[0].Lease, Outcome: backend.OutcomeComplete}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		return got[0].Name
	}
	order := []string{run()}
	if _, stale := lineEntries(t, b, "q", "g"); stale != 1 {
		t.Fatalf("%d stale entries in the line after a lease, want 1", stale)
	}
	add(t, b, "q", backend.NewJob{Name: "l1", Group: "g", LIFO: true})
	add(t, b, "q", backend.NewJob{Name: "l2", Group: "g", LIFO: true})
	for range 4 {
		order = append(order, run())
	}
	add(t, b, "q", backend.NewJob{Name: "last", Group: "g"})
	for range 2 {
		order = append(order, run())
	}
	if want := []string{"n0", "l2", "l1", "n1", "n2", "n3", "last"}; !slices.Equal(order, want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
}

// A job a lease left a stale waiting index entry for takes it with it
// when it is removed, and a waiting listing shows only the jobs that
// wait, in order.
func TestARemovedJobTakesItsStaleWaitingEntry(t *testing.T) {
	b := openTest(t, nil)
	add(t, b, "q", backend.NewJob{Name: "a", Group: "g"}, backend.NewJob{Name: "b", Group: "g"}, backend.NewJob{Name: "c", Group: "g"})
	got := lease(t, b, "q", 1)
	if len(got) != 1 || got[0].Name != "a" {
		t.Fatalf("leased %v, want a", got)
	}
	if errs := settle(t, b, "q", backend.Settlement{Lease: got[0].Lease, Outcome: backend.OutcomeComplete}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	waiting := func() (n int) {
		t.Helper()
		err := b.db.View(func(tx *bbolt.Tx) error {
			n = readQueue(tx, "q").idx[stWaiting].Stats().KeyN
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := waiting(); n != 3 {
		t.Fatalf("the waiting index holds %d entries; want the 2 waiting jobs and a's stale one", n)
	}
	if err := b.RemoveJob(ctx, "q", got[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := waiting(); n != 2 {
		t.Fatalf("the waiting index holds %d entries after a's removal, want 2", n)
	}
	res, err := b.Jobs(ctx, "q", &backend.JobsRequest{State: backend.StateWaiting})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range res.Jobs {
		names = append(names, j.Name)
	}
	if !slices.Equal(names, []string{"b", "c"}) {
		t.Fatalf("waiting jobs %v, want [b c]", names)
	}
}
