package bolt

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/droverhq/drover/backend"
)

// holdCommitter occupies the committer until the returned func is called,
// and waits until n requests have queued behind it.
func holdCommitter(t *testing.T, b *Backend) (queued func(n int), release func()) {
	t.Helper()
	gate := make(chan struct{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.update(ctx, func(*txn) error {
			close(started)
			<-gate
			return nil
		})
	}()
	<-started
	queued = func(n int) {
		waitFor(t, deadlineReal, func() bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return len(b.pending) >= n
		})
	}
	return queued, func() { close(gate); <-done }
}

func TestGroupCommitBatchesConcurrentWrites(t *testing.T) {
	b, _ := setup(t)
	queued, release := holdCommitter(t, b)
	const writers = 50
	before := b.commits.Load()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if _, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: fmt.Sprint(i)}}}); err != nil {
				t.Error(err)
			}
		})
	}
	queued(writers)
	release()
	wg.Wait()
	if got := b.commits.Load() - before; got != 1 {
		t.Fatalf("%d single adds took %d commits, want 1", writers, got)
	}
	if c := counts(t, b, "q"); c.Waiting != writers {
		t.Fatalf("counts %+v", c)
	}
}

func TestFailingRequestDoesNotPoisonItsBatch(t *testing.T) {
	b, _ := setup(t)
	queued, release := holdCommitter(t, b)
	var wg sync.WaitGroup
	errBoom := errors.New("boom")
	var badErr error
	wg.Go(func() {
		// Writes a job, then fails: its write must be undone.
		badErr = writeThenFail(b, errBoom)
	})
	queued(1)
	for i := range 10 {
		wg.Go(func() {
			add(t, b, "q", backend.NewJob{Name: fmt.Sprint(i)})
		})
	}
	wg.Go(func() {
		// Fails before writing: the others go on in the shared transaction.
		if err := b.RemoveJob(ctx, "q", "missing"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("remove of a missing job: %v", err)
		}
	})
	queued(12)
	release()
	wg.Wait()
	if !errors.Is(badErr, errBoom) {
		t.Fatalf("failing request: %v", badErr)
	}
	if _, err := b.Job(ctx, "q", "bad"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("write of the failed request kept: %v", err)
	}
	if c := counts(t, b, "q"); c.Waiting != 10 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPanickingRequestFailsAlone(t *testing.T) {
	b, _ := setup(t)
	err := b.update(ctx, func(t *txn) error { panic("bad") })
	if err == nil {
		t.Fatal("no error from a panicking request")
	}
	add(t, b, "q", backend.NewJob{Name: "after"})
}

// writeThenFail runs a request that adds job "bad" to queue q, then fails
// with errBoom: its write must be undone.
func writeThenFail(b *Backend, errBoom error) error {
	return b.update(ctx, func(t *txn) error {
		q, err := t.queue("q", true)
		if err != nil {
			return err
		}
		if _, err := t.insert(q, &backend.NewJob{Name: "undone", ID: "bad"}, nil); err != nil {
			return err
		}
		return errBoom
	})
}
