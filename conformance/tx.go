package conformance

import (
	"context"
	"errors"
	"testing"

	"github.com/droverhq/drover/backend"
)

// AppTx runs fn in a transaction of the application's own on store,
// beside a write of the application's that sets key to value, for the
// cases of adds in such a transaction (backend.Tx). It commits when fn
// returns nil; otherwise it discards the transaction and returns fn's
// error. AppValue reads key as committed transactions left it ("" when
// none set it).
type AppTx struct {
	Run      func(ctx context.Context, store backend.Full, key, value string, fn func(tx backend.Tx) error) error
	AppValue func(ctx context.Context, store backend.Full, key string) (string, error)
}

func testTx(t *testing.T, f Factory, cfg Config) {
	if cfg.Tx == nil {
		t.Skip("the store adds no jobs in transactions of the application's (Config.Tx)")
	}
	x := cfg.Tx
	// run runs one transaction that adds req to the case's queue, and
	// returns the add and the transaction's outcome.
	run := func(b *testBundle, key string, req *backend.AddRequest, fail error) (backend.TxAdd, error) {
		b.t.Helper()
		b.use(b.q)
		var add backend.TxAdd
		err := x.Run(b.ctx, b.store, key, "v-"+key, func(tx backend.Tx) (err error) {
			if tx.Backend() != backend.Backend(b.store) {
				b.t.Errorf("Tx.Backend() is not the store")
			}
			if add, err = tx.Add(b.ctx, b.q, req); err != nil {
				return err
			}
			return fail
		})
		return add, err
	}
	appValue := func(b *testBundle, key string) string {
		b.t.Helper()
		v, err := x.AppValue(b.ctx, b.store, key)
		if err != nil {
			b.t.Fatalf("AppValue: %v", err)
		}
		return v
	}
	two := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "a", Data: []byte("1")}, {Name: "b", Delay: longWait}}}

	t.Run("a committed transaction adds its jobs with the application's write, each with its events", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		mark := b.lastEventID(b.q)
		add, err := run(b, "order-1", two, nil)
		if err != nil {
			t.Fatalf("transaction: %v", err)
		}
		res, err := add.Result()
		if err != nil || len(res.Jobs) != 2 || res.Jobs[0].ID == "" || res.Jobs[0].Duplicate {
			t.Fatalf("Result() = %+v, %v", res, err)
		}
		if v := appValue(b, "order-1"); v != "v-order-1" {
			t.Fatalf("the application's write: %q", v)
		}
		b.wantCounts(b.q, backend.Counts{Waiting: 1, Delayed: 1})
		j := b.job(res.Jobs[0].ID)
		if j.Name != "a" || string(j.Data) != "1" {
			t.Fatalf("job %+v", j)
		}
		added := 0
		for _, ev := range b.events(b.q, mark) {
			if ev.Type == backend.EventAdded {
				added++
			}
		}
		if added != 2 {
			t.Fatalf("%d added events, want 2", added)
		}
	})

	t.Run("a discarded transaction adds nothing and writes nothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		before := b.fingerprint(cfg)
		declined := errors.New("payment declined")
		add, err := run(b, "order-1", two, declined)
		if !errors.Is(err, declined) {
			t.Fatalf("transaction: %v, want the application's error", err)
		}
		if add != nil {
			if _, err := add.Result(); err == nil {
				// A store that tells the result at once may report
				// the jobs the rollback undid; it must not keep them.
				b.wantCounts(b.q, backend.Counts{})
			}
		}
		if v := appValue(b, "order-1"); v != "" {
			t.Fatalf("the application's write of a discarded transaction: %q", v)
		}
		if after := b.fingerprint(cfg); after != before {
			t.Fatalf("a discarded transaction changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("a blocked lease gets the job of the committed transaction, not of the discarded one", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		ch := b.leaseAsync(b.q, backend.LeaseRequest{Worker: "w", Max: 1, TTL: defaultTTL, Wait: longWait, MaxStalled: 1})
		b.awaitWaiters(1)
		one := func(name string) *backend.AddRequest {
			return &backend.AddRequest{Jobs: []backend.NewJob{{Name: name}}}
		}
		if _, err := run(b, "o-1", one("discarded"), errors.New("no")); err == nil {
			t.Fatal("the discarded transaction committed")
		}
		add, err := run(b, "o-2", one("committed"), nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := add.Result()
		if err != nil {
			t.Fatal(err)
		}
		r := receive(t, ch, deadline, "blocked Lease")
		if r.err != nil || len(r.jobs) != 1 || r.jobs[0].ID != res.Jobs[0].ID || r.jobs[0].Name != "committed" {
			t.Fatalf("blocked Lease = %v, %v; want job %s", ids(r.jobs), r.err, res.Jobs[0].ID)
		}
		b.wantCounts(b.q, backend.Counts{Active: 1})
	})

	t.Run("bad input in a transaction is refused and leaves it as it was", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		mark := b.lastEventID(b.q)
		for _, req := range []*backend.AddRequest{
			{},
			{Jobs: []backend.NewJob{{Name: ""}}},
			{Jobs: []backend.NewJob{{Name: "n", Priority: -1}}},
		} {
			err := x.Run(b.ctx, b.store, "order", "kept", func(tx backend.Tx) error {
				if _, err := tx.Add(b.ctx, b.q, req); !errors.Is(err, backend.ErrInvalid) {
					t.Errorf("Add(%+v) in a transaction = %v, want ErrInvalid", req, err)
				}
				return nil // the application commits its own write
			})
			if err != nil {
				t.Fatalf("transaction: %v", err)
			}
		}
		if v := appValue(b, "order"); v != "kept" {
			t.Fatalf("the application's write: %q", v)
		}
		b.wantCounts(b.q, backend.Counts{})
		if evs := b.events(b.q, mark); len(evs) != 0 {
			t.Fatalf("events of refused adds: %+v", evs)
		}
	})

	t.Run("a chosen ID that exists is reported as a duplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t, f)
		b.add(backend.NewJob{ID: "x", Name: "first"})
		add, err := run(b, "o", &backend.AddRequest{Jobs: []backend.NewJob{{ID: "x", Name: "second"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := add.Result()
		if err != nil || !res.Jobs[0].Duplicate || res.Jobs[0].ID != "x" {
			t.Fatalf("Result() = %+v, %v", res, err)
		}
		if j := b.job("x"); j.Name != "first" {
			t.Fatalf("job x = %+v", j)
		}
	})
}
