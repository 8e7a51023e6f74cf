package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/fakeclock"
	"github.com/droverhq/drover/internal/redistest"
)

var prefixSeq atomic.Int64

// storeOptions mirror conformance.Options.
type storeOptions struct {
	Clock          backend.Clock
	MaxPayload     int
	EventRetention backend.EventRetention
}

type storeFactory func(t testing.TB, o storeOptions) backend.Full

// factory makes stores on one server, each under its own key prefix.
func factory(client goredis.UniversalClient, wrap func(string) string) storeFactory {
	return factoryWith(client, Options{wrapScript: wrap})
}

// factoryWith is factory with more options: base's Prefix, Clock,
// MaxPayload and EventRetention are the factory's.
func factoryWith(client goredis.UniversalClient, base Options) storeFactory {
	return func(t testing.TB, o storeOptions) backend.Full {
		opts := base
		opts.Prefix = fmt.Sprintf("t%d", prefixSeq.Add(1))
		opts.Clock, opts.MaxPayload, opts.EventRetention = o.Clock, o.MaxPayload, o.EventRetention
		b, err := New(client, &opts)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
}

func miniFactory(t *testing.T) storeFactory {
	_, c := redistest.Mini(t)
	return factory(c, nil)
}

func realFactory(t *testing.T) storeFactory {
	s := redistest.Start(t, nil)
	return factory(s.Client(t, &goredis.Options{PoolSize: 64, ReadTimeout: time.Minute}), nil)
}

func TestSPIMiniredis(t *testing.T) { runSPI(t, miniFactory(t)) }

func TestSPIRedis(t *testing.T) { runSPI(t, realFactory(t)) }

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type bundle struct {
	b     backend.Full
	clock *fakeclock.Clock
	ctx   context.Context
}

func setup(t *testing.T, f storeFactory, o storeOptions) *bundle {
	clock := fakeclock.New(t0)
	o.Clock = clock
	return &bundle{b: f(t, o), clock: clock, ctx: context.Background()}
}

func (x *bundle) add(t *testing.T, q string, jobs ...backend.NewJob) backend.AddResult {
	t.Helper()
	r, err := x.b.Add(x.ctx, q, &backend.AddRequest{Jobs: jobs})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return r
}

func (x *bundle) lease(t *testing.T, q string, max int) []*backend.Job {
	t.Helper()
	r, err := x.b.Lease(x.ctx, q, &backend.LeaseRequest{Worker: "w", Max: max, TTL: 30 * time.Second, MaxStalled: 1})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return r.Jobs
}

func (x *bundle) settle(t *testing.T, q string, ss ...backend.Settlement) []error {
	t.Helper()
	r, err := x.b.Settle(x.ctx, q, &backend.SettleRequest{Settlements: ss})
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	return r.Errs
}

func (x *bundle) job(t *testing.T, q, id string) *backend.Job {
	t.Helper()
	j, err := x.b.Job(x.ctx, q, id)
	if err != nil {
		t.Fatalf("Job %s: %v", id, err)
	}
	return j
}

func (x *bundle) counts(t *testing.T, q string) backend.Counts {
	t.Helper()
	c, err := x.b.Counts(x.ctx, q)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	return c
}

func (x *bundle) events(t *testing.T, q string, after uint64) []backend.Event {
	t.Helper()
	r, err := x.b.Events(x.ctx, q, &backend.EventsRequest{After: after, Max: 10000})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return r.Events
}

func types(evs []backend.Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Type)+":"+e.JobID)
	}
	return s
}

func complete(j *backend.Job, result string) backend.Settlement {
	return backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete, Result: []byte(result)}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var t0ctx = context.Background()
