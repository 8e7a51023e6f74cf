package bolt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
)

// A file that bbolt wrote, however its trees grew and shrank, passes the
// check at Open: pages split and merge, buckets turn inline and back,
// large records take overflow pages, and whole queues go.
func TestOpenAcceptsAChurnedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	clock := newClock()
	r := rand.New(rand.NewPCG(1, 2))
	opts := &Options{Clock: clock, NoSync: true, EventRetention: backend.EventRetention{Count: 300}}
	queues := []string{"a", "b", "c"}
	for round := range 12 {
		b, err := Open(path, opts)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, q := range queues {
			churn(t, b, clock, r, q)
		}
		if round%4 == 3 {
			if err := b.Obliterate(ctx, queues[r.IntN(len(queues))], &backend.ObliterateRequest{Force: true}); err != nil {
				t.Fatal(err)
			}
		}
		checkInvariants(t, b)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Open(path, opts)
	if err != nil {
		t.Fatalf("last open: %v", err)
	}
	b.Close()
}

// churn adds (some jobs with metadata), leases, settles, logs, removes, cancels, retries and
// promotes jobs of queue q at random, and publishes events.
func churn(t *testing.T, b *Backend, clock *fakeclock.Clock, r *rand.Rand, q string) {
	t.Helper()
	jobs := make([]backend.NewJob, r.IntN(400))
	for i := range jobs {
		size := 20 + r.IntN(200)
		if r.IntN(50) == 0 {
			size = 10_000 + r.IntN(30_000) // overflow pages
		}
		jobs[i] = backend.NewJob{Name: "churn", Data: bytes.Repeat([]byte{'x'}, size), Priority: r.IntN(3)}
		switch r.IntN(6) {
		case 0:
			jobs[i].Delay = time.Duration(1+r.IntN(60)) * time.Second
		case 1:
			jobs[i].ID = fmt.Sprintf("id-%d-%d", r.IntN(1000), i)
		case 2:
			jobs[i].Meta = map[string]string{"traceparent": fmt.Sprintf("00-%032x-%016x-01", r.Uint64(), r.Uint64())}
		}
	}
	if len(jobs) > 0 {
		add(t, b, q, jobs...)
	}
	clock.Advance(time.Duration(r.IntN(30)) * time.Second)
	var ss []backend.Settlement
	leased := lease(t, b, q, r.IntN(300))
	for i, j := range leased {
		if i == len(leased)-1 && r.IntN(2) == 0 {
			// Marked, and left to its lease's expiry: a record with a
			// cancel mark stays in the file.
			if _, err := b.Cancel(ctx, q, &backend.CancelRequest{ID: j.ID, Reason: "churn"}); err != nil {
				t.Fatal(err)
			}
			break
		}
		if r.IntN(3) == 0 {
			if _, err := b.AddLog(ctx, q, j.ID, "a line"); err != nil {
				t.Fatal(err)
			}
		}
		s := backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte("ok")}
		switch r.IntN(5) {
		case 0:
			s.Outcome, s.Reason = backend.OutcomeFail, "no"
		case 1:
			s.Outcome, s.Reason, s.RetryDelay = backend.OutcomeRetry, "again", time.Second
		case 2:
			s.Outcome = backend.OutcomeRelease
		}
		ss = append(ss, s)
	}
	if len(ss) > 0 {
		settle(t, b, q, ss...)
	}
	for range r.IntN(20) {
		_ = b.RemoveJob(ctx, q, fmt.Sprint(1+r.IntN(2000))) // not found, or active: either is fine
	}
	if _, err := b.Clean(ctx, q, &backend.CleanRequest{State: backend.StateCompleted, Limit: r.IntN(300)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Retry(ctx, q, &backend.RetryRequest{State: backend.StateFailed, Limit: r.IntN(100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Promote(ctx, q, &backend.PromoteRequest{Limit: r.IntN(50)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, q, &backend.PublishRequest{Name: "churn", Data: bytes.Repeat([]byte{'p'}, r.IntN(100))}); err != nil {
		t.Fatal(err)
	}
	if r.IntN(4) == 0 {
		if _, err := b.Drain(ctx, q, &backend.DrainRequest{Delayed: r.IntN(2) == 0}); err != nil {
			t.Fatal(err)
		}
	}
}
