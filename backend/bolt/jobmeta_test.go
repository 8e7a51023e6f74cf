package bolt

import (
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// A file written before job metadata moved out of the records holds it
// inline. Its jobs keep their metadata through every step, and the
// records written again no longer hold it.
func TestRecordsWithInlineMetadataKeepIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	o := &Options{Clock: fakeclock.New(epoch)}
	b, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{}
	for _, nj := range []backend.NewJob{
		{Name: "chosen", ID: "mine", Attempts: 2, Meta: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		{Name: "assigned", Attempts: 2, Meta: map[string]string{"tenant": "7"}},
		{Name: "bare", Attempts: 2},
	} {
		want[add(t, b, "q", nj)[0].ID] = nj.Meta
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Write the file as drover wrote it before: metadata in the records,
	// no metadata bucket.
	editFile(t, path, func(tx *bbolt.Tx) error {
		root := tx.Bucket(queueBucketName("q"))
		jobs, jm := root.Bucket(bucketJobs), root.Bucket(bucketJobMeta)
		if jm == nil {
			return errors.New("no metadata bucket")
		}
		for id, m := range want {
			k := jobKey(id, nil)
			if m == nil {
				if jm.Get(k) != nil {
					return errors.New("metadata of a job added without")
				}
				continue
			}
			rec := jobs.Get(k)
			if j, err := decodeJob(rec); err != nil || j.Meta != nil {
				return errors.New("a new record holds metadata")
			}
			if err := jobs.Put(k, inlineMeta(rec, m)); err != nil {
				return err
			}
		}
		return root.DeleteBucket(bucketJobMeta)
	})

	b, err = Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		checkInvariants(t, b)
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	check := func(how string, j *backend.Job) {
		t.Helper()
		if w := want[j.ID]; !maps.Equal(j.Meta, w) || (w == nil && j.Meta != nil) {
			t.Errorf("%s: job %s has Meta %q, want %q", how, j.ID, j.Meta, w)
		}
	}
	for id := range want {
		check("Job of an older record", job(t, b, "q", id))
	}
	// The first lease writes every record again; the retry once more.
	for _, j := range lease(t, b, "q", 10) {
		check("Lease", j)
		if err := settle(t, b, "q", backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeRetry, Reason: "again"})[0]; err != nil {
			t.Fatal(err)
		}
	}
	for id := range want {
		check("Job after a retry", job(t, b, "q", id))
	}
	leased := lease(t, b, "q", 10)
	for _, j := range leased {
		check("Lease after a retry", j)
		if err := settle(t, b, "q", backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete})[0]; err != nil {
			t.Fatal(err)
		}
	}
	if len(leased) != len(want) {
		t.Fatalf("leased %d jobs after the retry, want %d", len(leased), len(want))
	}
	for id := range want {
		check("Job after completing", job(t, b, "q", id))
	}
	err = b.db.View(func(tx *bbolt.Tx) error {
		q := readQueue(tx, "q")
		return q.jobs.ForEach(func(k, v []byte) error {
			if j, err := decodeJob(v); err != nil || j.Meta != nil {
				t.Errorf("job %s: the record written again holds Meta %q (%v)", j.ID, j.Meta, err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
