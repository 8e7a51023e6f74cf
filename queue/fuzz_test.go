package queue

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/internal/fakeclock"
)

// FuzzRepeat checks that any repeat rule is either rejected with a
// *ValidationError or planned: run times strictly ascending, after the
// start of planning, never past the end date, at most the limit.
func FuzzRepeat(f *testing.F) {
	f.Add(int64(time.Minute), "", "", int64(0), int64(0), 0, false)
	f.Add(int64(0), "*/5 * * * *", "Europe/Paris", int64(0), int64(0), 0, false)
	f.Add(int64(0), "0 30 2 * * *", "America/New_York", int64(0), int64(0), 3, true)
	f.Add(int64(0), "@every 1ns", "", int64(0), int64(0), 0, false)
	f.Add(int64(0), "@every 0s", "", int64(0), int64(0), 0, false)
	f.Add(int64(0), "@every -5s", "", int64(0), int64(0), 0, false)
	f.Add(int64(0), "@daily", "", int64(time.Hour), int64(72*time.Hour), 0, false)
	f.Add(int64(0), "0 0 30 2 *", "", int64(0), int64(0), 0, false)
	f.Add(int64(-time.Second), "", "", int64(0), int64(0), -1, false)
	f.Add(int64(math.MaxInt64), "", "", int64(0), int64(0), 0, false)
	f.Fuzz(func(t *testing.T, every int64, pattern, tz string, start, end int64, limit int, immediately bool) {
		r := Repeat{Every: time.Duration(every), Pattern: pattern, TZ: tz, Limit: limit, Immediately: immediately}
		now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		if start != 0 {
			r.StartDate = now.Add(time.Duration(start))
		}
		if end != 0 {
			r.EndDate = now.Add(time.Duration(end))
		}
		p, err := newPlanner(r)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("newPlanner(%+v) = %v, want a *ValidationError", r, err)
			}
			return
		}
		times, _ := p.plan(time.Time{}, now, 20, remainingOf(r, 0))
		if limit > 0 && len(times) > limit {
			t.Fatalf("%d run times for a limit of %d", len(times), limit)
		}
		prev := now.Add(-time.Millisecond)
		for _, at := range times {
			if !at.After(prev) {
				t.Fatalf("run times %v are not strictly ascending from %v", times, now)
			}
			if !r.EndDate.IsZero() && at.After(r.EndDate) {
				t.Fatalf("run time %v after the end date %v", at, r.EndDate)
			}
			prev = at
		}
	})
}

// FuzzAddOptions checks that an Add with any options either gets a
// *ValidationError and writes nothing, or stores a job that reads back
// with the options it was given.
func FuzzAddOptions(f *testing.F) {
	f.Add("", "n", int64(0), 0, 0, "", int64(0), 0.0, int64(0), 0, int64(0))
	f.Add("invoice-7", "bill", int64(time.Hour), 5, 3, "exponential", int64(time.Second), 0.5, int64(time.Minute), 10, int64(time.Hour))
	f.Add("42", "n", int64(-1), -1, -1, "linear", int64(-1), math.NaN(), int64(-1), -1, int64(-1))
	f.Add("a\x00b", "", int64(math.MaxInt64), backend.MaxPriority+1, backend.MaxAttempts+1, "fixed", int64(math.MaxInt64), math.Inf(1), int64(0), 0, int64(0))
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	store, err := bolt.Open(filepath.Join(f.TempDir(), "drover.db"), &bolt.Options{Clock: clock, NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	q, err := New(store, "fuzz", &Options{Clock: clock})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, id, name string, delay int64, prio, attempts int, backoff string, bdelay int64, jitter float64, timeout int64, keep int, age int64) {
		o := &AddOptions{
			ID: id, Delay: time.Duration(delay), Priority: prio, Attempts: attempts,
			Backoff:       Backoff{Type: backend.BackoffType(backoff), Delay: time.Duration(bdelay), Jitter: jitter},
			Timeout:       time.Duration(timeout),
			KeepCompleted: Retention{Count: keep},
			KeepFailed:    Retention{Age: time.Duration(age)},
		}
		before, err := q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		existed := false
		if id != "" {
			_, err := q.Job(ctx, id)
			existed = err == nil
		}
		j, err := q.Add(ctx, name, []byte("data"), o)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Add(%q, %+v) = %v, want ErrInvalid", name, o, err)
			}
			if after, _ := q.Counts(ctx); after != before {
				t.Fatalf("a rejected Add changed the counts from %+v to %+v", before, after)
			}
			return
		}
		if existed {
			return // the job of an earlier input, which Add returns as it is
		}
		got, err := q.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || got.Priority != prio || got.Attempts != max(attempts, 1) || got.Backoff != o.Backoff ||
			got.Timeout != o.Timeout || got.KeepCompleted != o.KeepCompleted || got.KeepFailed != o.KeepFailed {
			t.Fatalf("job %+v does not keep options %+v", got.Job, o)
		}
	})
}

// FuzzEventCursor checks that a subscription from any cursor either starts
// and reads only later events, or is refused with ErrEventsAhead.
func FuzzEventCursor(f *testing.F) {
	for _, c := range []uint64{0, 1, 3, 4, 1 << 53, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		f.Add(c)
	}
	store, err := bolt.Open(filepath.Join(f.TempDir(), "drover.db"), &bolt.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	q, err := New(store, "fuzz", nil)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	if _, err := q.AddBulk(ctx, []BulkJob{{Name: "a"}, {Name: "b"}}); err != nil {
		f.Fatal(err)
	}
	last, err := store.LastEventID(ctx, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cursor uint64) {
		sub, err := q.Subscribe(ctx, FromID(cursor), &SubscribeOptions{Wait: time.Millisecond})
		if cursor > last {
			if !errors.Is(err, ErrEventsAhead) {
				t.Fatalf("Subscribe(FromID(%d)) with last %d = %v, want ErrEventsAhead", cursor, last, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		for id := cursor + 1; id <= last; id++ {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			e, err := sub.Next(rctx)
			cancel()
			if err != nil || e.ID != id {
				t.Fatalf("after %d: event %d, %v; want event %d", cursor, e.ID, err, id)
			}
		}
	})
}
