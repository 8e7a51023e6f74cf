package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/internal/fakeclock"
)

// schedEnv is a queue on a fresh bbolt store with a fake clock.
type schedEnv struct {
	t     testing.TB
	ctx   context.Context
	clock *fakeclock.Clock
	store *bolt.Backend
	q     *Queue
}

var envStart = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func newSchedEnv(t testing.TB, opts *bolt.Options) *schedEnv {
	t.Helper()
	clock := fakeclock.New(envStart)
	var o bolt.Options
	if opts != nil {
		o = *opts
	}
	o.Clock = clock
	o.NoSync = true
	store, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), &o)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	q, err := New(store, "sched", &Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &schedEnv{t: t, ctx: context.Background(), clock: clock, store: store, q: q}
}

// pending returns the scheduler's pending (delayed or waiting) iteration
// jobs.
func (e *schedEnv) pending(id string) []*backend.Job {
	e.t.Helper()
	var out []*backend.Job
	for _, st := range []JobState{StateDelayed, StateWaiting} {
		for off := 0; ; off += 500 {
			res, err := e.store.Jobs(e.ctx, e.q.name, &backend.JobsRequest{State: st, Offset: off, Limit: 500})
			if err != nil {
				e.t.Fatalf("list %s: %v", st, err)
			}
			for _, j := range res.Jobs {
				if j.SchedulerID == id {
					out = append(out, j)
				}
			}
			if len(res.Jobs) < 500 {
				break
			}
		}
	}
	return out
}

// lease takes one ready job, or nil.
func (e *schedEnv) lease() *backend.Job {
	e.t.Helper()
	res, err := e.store.Lease(e.ctx, e.q.name, &backend.LeaseRequest{Worker: "test", Max: 1, TTL: time.Minute, MaxStalled: 1})
	if err != nil {
		e.t.Fatalf("lease: %v", err)
	}
	if len(res.Jobs) == 0 {
		return nil
	}
	return res.Jobs[0]
}

func (e *schedEnv) settle(j *backend.Job, s backend.Settlement) {
	e.t.Helper()
	s.Lease = j.Lease
	res, err := e.store.Settle(e.ctx, j.Queue, &backend.SettleRequest{Settlements: []backend.Settlement{s}})
	if err != nil {
		e.t.Fatalf("settle: %v", err)
	}
	if res.Errs[0] != nil {
		e.t.Fatalf("settle: %v", res.Errs[0])
	}
}

// untilTrue polls cond until it holds, failing the test after a generous
// deadline. It never asserts on how long that took.
func untilTrue(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
