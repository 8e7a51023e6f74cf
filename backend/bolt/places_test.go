package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// recordKeys returns the keys of queue's job records in key order, with
// the ID of the job each holds.
func recordKeys(t *testing.T, b *Backend, queue string) (keys [][]byte, ids []string) {
	t.Helper()
	err := b.db.View(func(tx *bbolt.Tx) error {
		return readQueue(tx, queue).jobs.ForEach(func(k, v []byte) error {
			j, err := decodeJob(v)
			if err != nil {
				return err
			}
			keys = append(keys, bytes.Clone(k))
			ids = append(ids, j.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, ids
}

// Jobs added group after group run in turn, one of each group; their
// records lie in that order, so that the records of jobs that run
// together share pages.
func TestRecordsOfGroupedJobsLieInTheOrderTheyRun(t *testing.T) {
	b := openTest(t, nil)
	add(t, b, "q", backend.NewJob{Name: "before"}) // before the queue had a group
	if err := b.SetGroupLimits(ctx, "q", backend.Limits{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	const groups, per = 3, 4
	var nj []backend.NewJob
	for g := range groups {
		for range per {
			nj = append(nj, backend.NewJob{Name: "n", Group: fmt.Sprint("g", g)})
		}
	}
	add(t, b, "q", nj...)
	keys, ids := recordKeys(t, b, "q")
	if len(keys) != 1+groups*per || !bytes.Equal(keys[0], jobKey("1", nil)) || ids[0] != "1" {
		t.Fatalf("records %q of jobs %v; want job 1 under its job key first", keys, ids)
	}
	// Run everything: the order of the leases is the order of the
	// records at places.
	var ran []string
	for {
		got := lease(t, b, "q", groups+1)
		if len(got) == 0 {
			break
		}
		var ss []backend.Settlement
		for _, j := range got {
			ran = append(ran, j.ID)
			ss = append(ss, backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete})
		}
		for i, err := range settle(t, b, "q", ss...) {
			if err != nil {
				t.Fatalf("settle %s: %v", ss[i].Lease.JobID, err)
			}
		}
	}
	ran = slices.DeleteFunc(ran, func(id string) bool { return id == "1" })
	if want := ids[1:]; !slices.Equal(ran, want) {
		t.Fatalf("jobs ran in the order %v, their records lie in the order %v", ran, want)
	}
	if _, after := recordKeys(t, b, "q"); !slices.Equal(after, ids) {
		t.Fatalf("records moved: %v, then %v", ids, after)
	}
	for _, id := range ids {
		if j := job(t, b, "q", id); j.State != backend.StateCompleted {
			t.Errorf("job %s is %s, want completed", id, j.State)
		}
	}
}

// A queue with records at places says so in its meta record, reads them
// again after a reopen, and loses the places with its jobs.
func TestPlacesOutliveAReopenAndGoWithTheirJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	b, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	added := add(t, b, "q", backend.NewJob{Name: "a", Group: "g"}, backend.NewJob{Name: "b", Group: "g", ID: "mine"})
	format := func(b *Backend) (f byte) {
		t.Helper()
		if err := b.db.View(func(tx *bbolt.Tx) error {
			f = readQueue(tx, "q").metaB.Get(metaKey)[0]
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := format(b); f != placesFormat {
		t.Fatalf("meta record in format %d, want %d", f, placesFormat)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkInvariants(t, b); b.Close() })
	for _, a := range added {
		if j := job(t, b, "q", a.ID); j.State != backend.StateWaiting || j.Group != "g" {
			t.Fatalf("job %s after reopen: %s in group %q", a.ID, j.State, j.Group)
		}
	}
	for _, a := range added {
		if err := b.RemoveJob(ctx, "q", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if keys, _ := recordKeys(t, b, "q"); len(keys) != 0 {
		t.Fatalf("records left after removing every job: %q", keys)
	}
}

// A place key is no job's ID: looking one up finds nothing, even where a
// record lies under it.
func TestAPlaceKeyNamesNoJob(t *testing.T) {
	b := openTest(t, nil)
	add(t, b, "q", backend.NewJob{Name: "a", Group: "g"})
	keys, _ := recordKeys(t, b, "q")
	if len(keys) != 1 || keys[0][0] != placeTag {
		t.Fatalf("records under %q, want one at a place", keys)
	}
	id := string(keys[0])
	if _, err := b.Job(ctx, "q", id); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Job(%q) = %v, want ErrNotFound", id, err)
	}
	if err := b.RemoveJob(ctx, "q", id); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Remove(%q) = %v, want ErrNotFound", id, err)
	}
	res, err := b.Settle(ctx, "q", &backend.SettleRequest{Settlements: []backend.Settlement{{
		Lease: backend.Lease{JobID: id, Token: "t"}, Outcome: backend.OutcomeComplete,
	}}})
	if err != nil || !errors.Is(res.Errs[0], backend.ErrLeaseLost) {
		t.Fatalf("Settle of %q: %v, %v; want ErrLeaseLost", id, res.Errs, err)
	}
	if _, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "x", ID: id}}}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("Add with ID %q: %v, want ErrInvalid", id, err)
	}
}

// A place entry that names another job's record, or none, is damage: the
// job reads as corrupt, not as the other job, and listings fail the same
// way.
func TestADamagedPlaceIsErrCorrupt(t *testing.T) {
	b := openTest(t, nil)
	add(t, b, "q", backend.NewJob{Name: "a", Group: "g"}, backend.NewJob{Name: "b", Group: "g"})
	keys, _ := recordKeys(t, b, "q")
	for _, to := range [][]byte{keys[1], append(bytes.Clone(keys[0]), 'x')} {
		err := b.db.Update(func(tx *bbolt.Tx) error {
			return readQueue(tx, "q").root.Bucket(bucketPlaces).Put(jobKey("1", nil), to)
		})
		if err != nil {
			t.Fatal(err)
		}
		if j, err := b.Job(ctx, "q", "1"); !errors.Is(err, backend.ErrCorrupt) {
			t.Fatalf("Job 1 placed at %q: %v, %v; want ErrCorrupt", to, j, err)
		}
		if _, err := b.Jobs(ctx, "q", &backend.JobsRequest{State: backend.StateWaiting}); err == nil {
			t.Fatalf("Jobs with job 1 placed at %q: no error", to)
		}
	}
	// Mend it, for the invariants checked at the end.
	if err := b.db.Update(func(tx *bbolt.Tx) error {
		return readQueue(tx, "q").root.Bucket(bucketPlaces).Put(jobKey("1", nil), keys[0])
	}); err != nil {
		t.Fatal(err)
	}
}

// A group record from before the stale count was kept reads as not
// knowing it, so that a lease looks at the head of the line.
func TestAGroupRecordWithoutAStaleCountDoesNotKnowIt(t *testing.T) {
	full := appendGroupRec(nil, &groupRec{ready: 2, stale: 3, staleTo: []byte("k")})
	g, err := decodeGroupRec(full)
	if err != nil || g.stale != 3 || string(g.staleTo) != "k" || g.ready != 2 {
		t.Fatalf("decoded %+v, %v", g, err)
	}
	// The record as versions before the count wrote it: no trailing part.
	old := appendGroupRec(nil, &groupRec{ready: 2})
	old = old[:len(old)-2] // e.n(0) and an empty e.bytes: one byte each
	if g, err := decodeGroupRec(old); err != nil || g.stale != -1 || g.ready != 2 {
		t.Fatalf("decoded an earlier record as %+v, %v; want stale -1", g, err)
	}
}
