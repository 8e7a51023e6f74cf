package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// testQueues checks QueueLister, for stores that have it.
func testQueues(t *testing.T, f Factory) {
	lister := func(t *testing.T, b *testBundle) backend.QueueLister {
		t.Helper()
		l, ok := b.store.(backend.QueueLister)
		if !ok {
			t.Skip("the store is not a backend.QueueLister")
		}
		return l
	}
	wantQueues := func(t *testing.T, b *testBundle, l backend.QueueLister, want ...string) {
		t.Helper()
		got, err := l.Queues(b.ctx)
		if err != nil {
			t.Fatalf("Queues: %v", err)
		}
		if want == nil {
			want = []string{}
		}
		if got == nil || !slices.Equal(got, want) {
			t.Fatalf("Queues = %#v, want %#v", got, want)
		}
	}

	t.Run("an empty store has no queue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		wantQueues(t, b, lister(t, b))
	})

	t.Run("every queue with a job, a scheduler, a pause or an event is listed, sorted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		l := lister(t, b)
		b.addTo("work:b", backend.NewJob{Name: "n"})
		b.addTo("work:a", backend.NewJob{Name: "n", Delay: time.Hour})
		b.use("sched")
		s := tick("{}", epoch.Add(time.Minute))
		if _, err := b.store.CompareAndUpsert(b.ctx, "sched", &backend.CompareAndUpsertRequest{Scheduler: s, ExpectRevision: 0}); err != nil {
			t.Fatal(err)
		}
		b.use("paused")
		if err := b.store.SetPaused(b.ctx, "paused", true); err != nil {
			t.Fatal(err)
		}
		b.use("news")
		if _, err := b.store.Publish(b.ctx, "news", &backend.PublishRequest{Name: "hello"}); err != nil {
			t.Fatal(err)
		}
		wantQueues(t, b, l, "news", "paused", "sched", "work:a", "work:b")
	})

	t.Run("reads and refused calls list no queue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		l := lister(t, b)
		const ghost = "ghost"
		b.use(ghost)
		if _, err := b.store.Counts(b.ctx, ghost); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Jobs(b.ctx, ghost, &backend.JobsRequest{State: backend.StateWaiting}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Job(b.ctx, ghost, "1"); err == nil {
			t.Fatal("Job in an empty queue found a job")
		}
		if _, err := b.store.Events(b.ctx, ghost, &backend.EventsRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Schedulers(b.ctx, ghost, &backend.SchedulersRequest{}); err != nil {
			t.Fatal(err)
		}
		if err := b.store.RemoveJob(b.ctx, ghost, "1"); err == nil {
			t.Fatal("RemoveJob of no job succeeded")
		}
		if _, err := b.store.Retry(b.ctx, ghost, &backend.RetryRequest{ID: "1"}); err == nil {
			t.Fatal("Retry of no job succeeded")
		}
		if _, err := b.store.Add(b.ctx, ghost, &backend.AddRequest{Jobs: []backend.NewJob{{Name: ""}}}); err == nil {
			t.Fatal("Add of a job with no name succeeded")
		}
		wantQueues(t, b, l)
	})

	t.Run("a queue stays listed when its jobs are gone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		l := lister(t, b)
		id := b.addOne(backend.NewJob{Name: "n"})
		if err := b.store.RemoveJob(b.ctx, b.q, id); err != nil {
			t.Fatal(err)
		}
		wantQueues(t, b, l, b.q)
		// Obliterate keeps the queue's ID counters, so that no ID is
		// reused: the queue is still known to the store.
		if err := b.store.Obliterate(b.ctx, b.q, nil); err != nil {
			t.Fatal(err)
		}
		wantQueues(t, b, l, b.q)
	})
}
