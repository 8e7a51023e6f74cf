package bolt

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

func sampleJob() *backend.Job {
	at := time.Unix(0, 1_900_000_000_123_456_789).UTC()
	return &backend.Job{
		ID: "mine", Name: "send", Data: []byte(`{"to":"x"}`), State: backend.StateActive, Seq: 7, Priority: 3,
		Attempts: 5, AttemptsMade: 2, StalledCount: 1,
		Backoff:       backend.Backoff{Type: backend.BackoffExponential, Delay: time.Second, Jitter: 0.5},
		Timeout:       time.Minute,
		KeepCompleted: backend.Retention{Count: 10, Age: time.Hour},
		KeepFailed:    backend.Retention{Remove: true},
		Progress:      []byte(`50`), Result: []byte(`"ok"`), FailedReason: "boom", Stacktrace: []string{"a", "b"},
		LogCount: 3, CreatedAt: at, RunAt: at.Add(time.Second), ProcessedAt: at.Add(2 * time.Second),
		FinishedAt: at.Add(3 * time.Second), Lease: backend.Lease{JobID: "mine", Token: "t.1"},
		LeaseExpiresAt: at.Add(time.Minute), Worker: "w", SchedulerID: "s",
		Parent: &backend.JobRef{Queue: "p", ID: "9"}, FailurePolicy: backend.PolicyIgnore,
		CancelRequested: true, CancelReason: "user asked",
		Meta: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k": ""},
	}
}

func sampleDeps() []dep {
	return []dep{
		{pos: 0},
		{pos: 1, done: &backend.ChildOutcome{State: backend.StateCompleted, Result: []byte(`"ok"`)}},
		{pos: 70_000, done: &backend.ChildOutcome{State: backend.StateFailed, Reason: "r", Ignored: true}},
	}
}

func TestJobRoundTrip(t *testing.T) {
	j := sampleJob()
	rec := appendJob(nil, j)
	got, err := decodeJob(rec)
	if err != nil {
		t.Fatal(err)
	}
	// The metadata is kept apart from the record (jobmeta.go).
	j.Meta = nil
	if !reflect.DeepEqual(got, j) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, j)
	}
	if plain := appendJob(nil, j); !bytes.Equal(plain, rec) {
		t.Fatalf("the record of a job with metadata is %d bytes, without %d", len(rec), len(plain))
	}
}

// A record without the trailing parts that format 2 gained (a job never
// marked, an event without data) is as long as it was before them, and
// reads as before.
func TestTrailingPartsAreOptional(t *testing.T) {
	j := sampleJob()
	j.Meta = nil
	marked := appendJob(nil, j)
	j.CancelRequested, j.CancelReason = false, ""
	plain := appendJob(nil, j)
	if len(marked)-len(plain) != 1+1+len("user asked") {
		t.Fatalf("the cancel mark takes %d bytes", len(marked)-len(plain))
	}
	if got, err := decodeJob(plain); err != nil || !reflect.DeepEqual(got, j) {
		t.Fatalf("unmarked job: %+v, %v", got, err)
	}
	// Records written before the metadata moved out of them hold it
	// after the cancel mark, which is written (empty) before it.
	j.Meta = map[string]string{"a": "b"}
	if got, err := decodeJob(inlineMeta(plain, j.Meta)); err != nil || !reflect.DeepEqual(got, j) {
		t.Fatalf("job with metadata: %+v, %v", got, err)
	}
	ev := backend.Event{Type: backend.EventPublished, Time: time.Unix(5, 0).UTC(), Name: "n", Data: []byte("d")}
	withData := appendEvent(nil, &ev)
	ev.Data = nil
	without := appendEvent(nil, &ev)
	if len(withData)-len(without) != 2 {
		t.Fatalf("the data takes %d bytes", len(withData)-len(without))
	}
	if got, err := decodeEvent(without); err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("event without data: %+v, %v", got, err)
	}
}

// inlineMeta returns plain, the record of a job that has neither cancel
// mark, deduplication key nor group, with metadata m as records held it
// before it moved out of them.
func inlineMeta(plain []byte, m map[string]string) []byte {
	e := enc{b: slices.Clone(plain)}
	e.bool(false)
	e.str("")
	appendMeta(&e, m)
	return e.b
}

func TestDepRoundTrip(t *testing.T) {
	for _, d := range sampleDeps() {
		got, err := decodeDep(appendDep(nil, &d))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
		}
	}
	if n, err := decodePending(appendPending(nil, 10_000)); err != nil || n != 10_000 {
		t.Fatalf("pending round trip: %d, %v", n, err)
	}
}

func TestDepKeys(t *testing.T) {
	for _, parent := range []string{"7", "p", "p-1"} {
		for _, c := range []backend.JobRef{{Queue: "q", ID: "1"}, {Queue: "other", ID: "x"}, {Queue: "q", ID: "256"}} {
			jk := jobKey(parent, nil)
			k := depKey(jk, c, nil)
			if got, ok := depChild(k, len(underJob(jk, nil))); !ok || got != c {
				t.Errorf("depChild of parent %s, child %s: %s, %v", parent, c, got, ok)
			}
		}
	}
}

func TestOpenRefusesAnotherFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	b, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	add(t, b, "q", backend.NewJob{Name: "x"})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Make the queue look as the first format left it: meta records of
	// version 1 and no deps bucket.
	editFile(t, path, func(tx *bbolt.Tx) error {
		root := tx.Bucket(queueBucketName("q"))
		m := root.Bucket(bucketMeta)
		v := append([]byte(nil), m.Get(metaKey)...)
		v[0] = 1
		if err := m.Put(metaKey, v); err != nil {
			return err
		}
		return root.DeleteBucket(bucketDeps)
	})
	_, err = Open(path, nil)
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "queue q of this file is in record format 1") {
		t.Fatalf("open: %v", err)
	}
}

// editFile changes the store file at path, which no Backend has open,
// in one bbolt transaction: as another version of drover, or damage,
// would have left it.
func editFile(t *testing.T, path string, edit func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(db.Update(edit), db.Close()); err != nil {
		t.Fatal(err)
	}
}

func TestSchedulerRoundTrip(t *testing.T) {
	at := time.Unix(1_900_000_000, 0).UTC()
	s := &backend.Scheduler{
		ID: "tick", Revision: 4, Repeat: []byte(`{"every":"1m"}`),
		Template:   backend.NewJob{Name: "tick", Data: []byte("d"), Priority: 1, Attempts: 2, Timeout: time.Second},
		Iterations: 3, Next: at, Upcoming: []time.Time{at.Add(time.Minute)}, Final: true, UpdatedAt: at,
	}
	for _, meta := range []map[string]string{nil, {"tenant": "7"}} {
		s.Template.Meta = meta
		got, err := decodeScheduler(appendScheduler(nil, s))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

func FuzzDecodeJob(f *testing.F) {
	f.Add(appendJob(nil, sampleJob()))
	f.Add(appendJob(nil, &backend.Job{ID: "1", Name: "n", State: backend.StateWaiting}))
	f.Add(inlineMeta(appendJob(nil, &backend.Job{ID: "1", Name: "n", State: backend.StateWaiting}), map[string]string{"k": "v"}))
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, v []byte) {
		j, err := decodeJob(v)
		if err != nil {
			return
		}
		// The partial read that tells stale entries (groups.go) agrees
		// with the whole decode.
		if id, s, prio, seq, ok := readIndexFields(v); !ok || string(id) != j.ID || s != stateNum(j.State) || prio != j.Priority || seq != j.Seq {
			t.Fatalf("readIndexFields = %q, state %d, priority %d, place %d, %v; the record holds %q, %s, %d, %d",
				id, s, prio, seq, ok, j.ID, j.State, j.Priority, j.Seq)
		}
		// What decodes must encode back to an equal record, but for
		// the metadata of older records (jobmeta.go).
		j.Meta = nil
		again, err := decodeJob(appendJob(nil, j))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, j) {
			t.Fatalf("unstable round trip:\n%+v\n%+v", j, again)
		}
	})
}

func FuzzDecodeDep(f *testing.F) {
	for _, d := range sampleDeps() {
		f.Add(appendDep(nil, &d))
	}
	f.Add(appendPending(nil, 3))
	f.Fuzz(func(t *testing.T, v []byte) {
		if d, err := decodeDep(v); err == nil {
			again, err := decodeDep(appendDep(nil, &d))
			if err != nil || !reflect.DeepEqual(again, d) {
				t.Fatalf("unstable round trip: %v\n%+v\n%+v", err, d, again)
			}
		}
		if n, err := decodePending(v); err == nil {
			if again, err := decodePending(appendPending(nil, n)); err != nil || again != n {
				t.Fatalf("unstable round trip: %v: %d, %d", err, n, again)
			}
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(appendEvent(nil, &backend.Event{Type: backend.EventCompleted, Time: time.Unix(5, 0), JobID: "1", Result: []byte("r"), Count: 2}))
	f.Add(appendEvent(nil, &backend.Event{Type: backend.EventPublished, Time: time.Unix(5, 0), Name: "n", Data: []byte("d")}))
	f.Fuzz(func(t *testing.T, v []byte) {
		ev, err := decodeEvent(v)
		if err != nil {
			return
		}
		again, err := decodeEvent(appendEvent(nil, &ev))
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("unstable round trip: %v\n%+v\n%+v", err, ev, again)
		}
	})
}

func FuzzDecodeScheduler(f *testing.F) {
	f.Add(appendScheduler(nil, &backend.Scheduler{ID: "s", Next: time.Unix(9, 0), Upcoming: []time.Time{time.Unix(10, 0)}}))
	f.Fuzz(func(t *testing.T, v []byte) {
		s, err := decodeScheduler(v)
		if err != nil {
			return
		}
		again, err := decodeScheduler(appendScheduler(nil, s))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("unstable round trip: %v\n%+v\n%+v", err, s, again)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(nil, &meta{seq: 3, lastEvent: 9, paused: true, counts: [numStates]int64{1, 2, 3, 4, 5, 6}}))
	f.Fuzz(func(t *testing.T, v []byte) {
		m := decodeMeta(v)
		if got := decodeMeta(encodeMeta(nil, &m)); got != m {
			t.Fatalf("unstable round trip %+v %+v", m, got)
		}
	})
}
