package redis

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
	"github.com/droverhq/drover/internal/redistest"
)

// txStore is a store with the client its tests run transactions on.
type txStore struct {
	*bundle
	rb *Backend
	c  *goredis.Client
}

func newTxStore(t *testing.T, c *goredis.Client, o storeOptions) *txStore {
	x := setup(t, factory(c, nil), o)
	return &txStore{bundle: x, rb: x.b.(*Backend), c: c}
}

// appKey is a key of the application's in the slot of queue q.
func (x *txStore) appKey(name string) string { return name + ":" + x.rb.HashTag("q") + ":1" }

// commit runs a transaction of an HSET of key and the add of jobs to q,
// and returns the add.
func (x *txStore) commit(t *testing.T, key string, jobs ...backend.NewJob) backend.TxAdd {
	t.Helper()
	var a backend.TxAdd
	_, err := x.c.TxPipelined(x.ctx, func(pipe goredis.Pipeliner) error {
		pipe.HSet(x.ctx, key, "status", "saved")
		var err error
		a, err = x.rb.InTx(pipe).Add(x.ctx, "q", &backend.AddRequest{Jobs: jobs})
		return err
	})
	if err != nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	return a
}

// watched runs a transaction under WATCH of key: meanwhile, if not nil,
// runs between WATCH and EXEC; the transaction sets key to "mine" and adds
// a job to q.
func (x *txStore) watched(key string, meanwhile func() error) (backend.TxAdd, error) {
	var a backend.TxAdd
	err := x.c.Watch(x.ctx, func(tx *goredis.Tx) error {
		if meanwhile != nil {
			if err := meanwhile(); err != nil {
				return err
			}
		}
		_, err := tx.TxPipelined(x.ctx, func(pipe goredis.Pipeliner) error {
			pipe.Set(x.ctx, key, "mine", 0)
			var err error
			a, err = x.rb.InTx(pipe).Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "restock"}}})
			return err
		})
		return err
	}, key)
	return a, err
}

func (x *txStore) result(t *testing.T, a backend.TxAdd) backend.AddResult {
	t.Helper()
	r, err := a.Result()
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	return r
}

func (x *txStore) exists(t *testing.T, key string) bool {
	t.Helper()
	n, err := x.c.Exists(x.ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// empty checks that queue q has no job and no event.
func (x *txStore) empty(t *testing.T) {
	t.Helper()
	if c := x.counts(t, "q"); c != (backend.Counts{}) {
		t.Errorf("counts %+v, want none", c)
	}
	if evs := x.events(t, "q", 0); len(evs) != 0 {
		t.Errorf("events %v, want none", types(evs))
	}
}

var txCases = []struct {
	name string
	run  func(*testing.T, *goredis.Client)
}{
	{"Commit", testTxCommit},
	{"CommitUnderWatch", testTxCommitUnderWatch},
	{"NotRun", testTxNotRun},
	{"WatchConflict", testTxWatchConflict},
	{"InvalidQueuesNothing", testTxInvalid},
	{"WakesBlockedLease", testTxWakesLease},
	{"Duplicate", testTxDuplicate},
	{"Dedup", testTxDedup},
}

// TestTx runs the transaction cases on miniredis and on a real
// redis-server, each case with a client of its own.
func TestTx(t *testing.T) {
	for _, kind := range []string{"miniredis", "redis"} {
		t.Run(kind, func(t *testing.T) {
			client := func(t *testing.T) *goredis.Client {
				_, c := redistest.Mini(t)
				return c
			}
			if kind == "redis" {
				s := redistest.Start(t, nil)
				client = func(t *testing.T) *goredis.Client {
					return s.Client(t, &goredis.Options{PoolSize: 16, ReadTimeout: time.Minute})
				}
			}
			for _, c := range txCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, client(t)) })
			}
		})
	}
}

// testTxCommit: the application's write and the jobs of two adds land
// together, with their events; the results give their IDs, a flow's
// children included.
func testTxCommit(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	key := x.appKey("order")
	var plain, flow backend.TxAdd
	_, err := c.TxPipelined(x.ctx, func(pipe goredis.Pipeliner) error {
		pipe.HSet(x.ctx, key, "status", "saved")
		tx := x.rb.InTx(pipe)
		if tx.Backend() != x.b {
			t.Errorf("Backend() = %v, want the store", tx.Backend())
		}
		var err error
		plain, err = tx.Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "a"}, {Name: "b"}}})
		if err != nil {
			return err
		}
		flow, err = tx.Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "parent",
			Children: []backend.NewJob{{Name: "here"}, {Name: "there", Queue: "other"}}}}})
		return err
	})
	if err != nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	if got, _ := c.HGet(x.ctx, key, "status").Result(); got != "saved" {
		t.Fatalf("the application's write: %q", got)
	}
	p := x.result(t, plain)
	if len(p.Jobs) != 2 || p.Jobs[0].Queue != "q" || p.Jobs[0].ID != "1" || p.Jobs[1].ID != "2" || p.Jobs[1].Duplicate {
		t.Fatalf("plain result %+v", p)
	}
	f := x.result(t, flow)
	if len(f.Jobs) != 1 || len(f.Jobs[0].Children) != 2 || f.Jobs[0].Children[1].Queue != "other" {
		t.Fatalf("flow result %+v", f)
	}
	for _, j := range []backend.Added{p.Jobs[0], p.Jobs[1], f.Jobs[0], f.Jobs[0].Children[0], f.Jobs[0].Children[1]} {
		got := x.job(t, j.Queue, j.ID)
		if got.State != backend.StateWaiting && got.State != backend.StateWaitingChildren {
			t.Errorf("job %s/%s is %s", j.Queue, j.ID, got.State)
		}
	}
	evs := types(x.events(t, "q", 0))
	for _, j := range []backend.Added{p.Jobs[0], p.Jobs[1], f.Jobs[0]} {
		if !slices.Contains(evs, "added:"+j.ID) {
			t.Errorf("no added event of job %s in %s", j.ID, evs)
		}
	}
	if c := x.counts(t, "q"); c.Waiting != 3 || c.WaitingChildren != 1 {
		t.Errorf("counts %+v", c)
	}
	// The add kept no reply for a resend: go-redis does not resend a
	// transaction that may have run.
	if keys, _ := c.Keys(x.ctx, x.rb.HashTag("q")+":r:*").Result(); len(keys) != 0 {
		t.Errorf("reply keys %v", keys)
	}
}

// testTxCommitUnderWatch: a transaction under WATCH that no one
// disturbs commits the application's write and the job.
func testTxCommitUnderWatch(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	key := x.appKey("stock")
	a, err := x.watched(key, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	r := x.result(t, a)
	if got, _ := c.Get(x.ctx, key).Result(); got != "mine" {
		t.Fatalf("the application's write: %q", got)
	}
	if j := x.job(t, "q", r.Jobs[0].ID); j.Name != "restock" {
		t.Fatalf("job %+v", j)
	}
}

// testTxNotRun: an add has no result before EXEC, nor once its
// transaction was discarded or its function failed; nothing lands.
func testTxNotRun(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	job := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "a"}}}

	// Before EXEC, then after it.
	var a backend.TxAdd
	_, err := c.TxPipelined(x.ctx, func(pipe goredis.Pipeliner) error {
		var err error
		if a, err = x.rb.InTx(pipe).Add(x.ctx, "q", job); err != nil {
			return err
		}
		if _, err := a.Result(); !errors.Is(err, backend.ErrNotCommitted) {
			t.Errorf("Result before EXEC: %v, want ErrNotCommitted", err)
		}
		if n := x.counts(t, "q").Waiting; n != 0 {
			t.Errorf("%d jobs before EXEC", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	x.result(t, a)

	// Discarded.
	pipe := c.TxPipeline()
	key := x.appKey("discarded")
	pipe.Set(x.ctx, key, "1", 0)
	a, err = x.rb.InTx(pipe).Add(x.ctx, "q", job)
	if err != nil {
		t.Fatal(err)
	}
	pipe.Discard()
	if _, err := pipe.Exec(x.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Result(); !errors.Is(err, backend.ErrNotCommitted) {
		t.Errorf("Result after Discard: %v, want ErrNotCommitted", err)
	}

	// The function failed: go-redis sends nothing.
	fail := errors.New("out of stock")
	_, err = c.TxPipelined(x.ctx, func(pipe goredis.Pipeliner) error {
		pipe.Set(x.ctx, key, "1", 0)
		if a, err = x.rb.InTx(pipe).Add(x.ctx, "q", job); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("TxPipelined: %v", err)
	}
	if _, err := a.Result(); !errors.Is(err, backend.ErrNotCommitted) {
		t.Errorf("Result after a failed function: %v, want ErrNotCommitted", err)
	}
	if x.exists(t, key) {
		t.Error("the application's write landed")
	}
	if n := x.counts(t, "q").Waiting; n != 1 {
		t.Errorf("%d jobs, want the first transaction's one", n)
	}
}

// testTxWatchConflict: another client changes the watched key between
// WATCH and EXEC; neither the application's write nor the job lands.
func testTxWatchConflict(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	key := x.appKey("stock")
	// c runs the other write on another connection than the WATCH's.
	a, err := x.watched(key, func() error { return c.Set(x.ctx, key, "theirs", 0).Err() })
	if !errors.Is(err, goredis.TxFailedErr) {
		t.Fatalf("Watch: %v, want TxFailedErr", err)
	}
	if got, _ := c.Get(x.ctx, key).Result(); got != "theirs" {
		t.Errorf("watched key %q, want the other client's", got)
	}
	x.empty(t)
	_, err = a.Result()
	if !errors.Is(err, backend.ErrNotCommitted) || !errors.Is(err, goredis.TxFailedErr) {
		t.Errorf("Result: %v, want ErrNotCommitted with the cause", err)
	}
}

// testTxInvalid: bad input fails with a typed error and queues nothing,
// and the application's transaction still commits its own write.
func testTxInvalid(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{MaxPayload: 64})
	key := x.appKey("order")
	cancelled, cancel := context.WithCancel(x.ctx)
	cancel()
	cases := []struct {
		name  string
		ctx   context.Context
		queue string
		req   *backend.AddRequest
		want  error
	}{
		{"empty name", x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "ok"}, {Name: ""}}}, backend.ErrInvalid},
		{"payload over the limit", x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Data: make([]byte, 65)}}}, backend.ErrTooLarge},
		{"no jobs", x.ctx, "q", &backend.AddRequest{}, backend.ErrInvalid},
		{"no request", x.ctx, "q", nil, backend.ErrInvalid},
		{"queue name with a brace", x.ctx, "q}", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}, backend.ErrInvalid},
		{"negative delay", x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Delay: -time.Second}}}, backend.ErrInvalid},
		{"flow child with a caller-chosen ID", x.ctx, "q",
			&backend.AddRequest{Jobs: []backend.NewJob{{Name: "p", Children: []backend.NewJob{{Name: "c", ID: "c1"}}}}}, backend.ErrUnsupported},
		{"ended context", cancelled, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}, context.Canceled},
	}
	_, err := c.TxPipelined(x.ctx, func(pipe goredis.Pipeliner) error {
		pipe.HSet(x.ctx, key, "status", "saved")
		tx := x.rb.InTx(pipe)
		for _, bad := range cases {
			a, err := tx.Add(bad.ctx, bad.queue, bad.req)
			if !errors.Is(err, bad.want) || a != nil {
				t.Errorf("%s: %v, %v; want %v", bad.name, a, err, bad.want)
			}
			if pipe.Len() != 1 {
				t.Errorf("%s: %d commands queued, want the application's one", bad.name, pipe.Len())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	if !x.exists(t, key) {
		t.Error("the application's write did not land")
	}
	x.empty(t)

	if _, err := x.rb.InTx(nil).Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("no pipeline: %v, want ErrInvalid", err)
	}
	if err := x.b.Close(); err != nil {
		t.Fatal(err)
	}
	pipe := c.TxPipeline()
	if _, err := x.rb.InTx(pipe).Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); !errors.Is(err, backend.ErrClosed) || pipe.Len() != 0 {
		t.Errorf("closed store: %v, %d commands queued; want ErrClosed and none", err, pipe.Len())
	}
}

// blpopHook counts the BLPOPs of a key, and those that took an element.
type blpopHook struct{ sent, emptied atomic.Int32 }

func (h *blpopHook) around(next func() error) error {
	h.sent.Add(1)
	err := next()
	if err == nil {
		h.emptied.Add(1)
	}
	return err
}

// testTxWakesLease: a Lease blocked waiting for a job is woken by the
// wake token that a committed transaction's add pushes, as by an Add.
func testTxWakesLease(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	wake := x.rb.key("q", layout.KeyWake)
	hook := &blpopHook{}
	c.AddHook(cmdHook{name: "blpop", arg: wake, around: hook.around})
	leased := make(chan []*backend.Job, 1)
	go func() {
		r, err := x.b.Lease(x.ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute, Wait: time.Hour})
		if err != nil {
			t.Errorf("Lease: %v", err)
		}
		leased <- r.Jobs
	}()
	waitFor(t, "the leaser to wait", func() bool { return hook.sent.Load() > 0 })
	r := x.result(t, x.commit(t, x.appKey("order"), backend.NewJob{Name: "confirm"}))
	select {
	case jobs := <-leased:
		if len(jobs) != 1 || jobs[0].ID != r.Jobs[0].ID {
			t.Fatalf("leased %v, want job %s", jobs, r.Jobs[0].ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked Lease did not return")
	}
	// The leaser took the add's wake token, or (if its wait had just run
	// out when the add came) the token is still there for the next one.
	left, err := c.LLen(x.ctx, wake).Result()
	if err != nil {
		t.Fatal(err)
	}
	if hook.emptied.Load() == 0 && left == 0 {
		t.Fatal("the add pushed no wake token")
	}
}

// testTxDuplicate: a caller-chosen ID that exists is reported as a
// duplicate; the application's write lands, the job is not added again.
func testTxDuplicate(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	x.add(t, "q", backend.NewJob{Name: "confirm", ID: "order-1"})
	key := x.appKey("order")
	r := x.result(t, x.commit(t, key, backend.NewJob{Name: "confirm", ID: "order-1"}, backend.NewJob{Name: "invoice", ID: "order-1-invoice"}))
	want := []backend.Added{{Queue: "q", ID: "order-1", Duplicate: true}, {Queue: "q", ID: "order-1-invoice"}}
	if len(r.Jobs) != 2 || r.Jobs[0].ID != want[0].ID || !r.Jobs[0].Duplicate || r.Jobs[1].ID != want[1].ID || r.Jobs[1].Duplicate {
		t.Fatalf("result %+v, want %+v", r.Jobs, want)
	}
	if !x.exists(t, key) {
		t.Error("the application's write did not land")
	}
	if n := x.counts(t, "q").Waiting; n != 2 {
		t.Errorf("%d jobs waiting, want 2", n)
	}
}

// testTxDedup: deduplication keys apply when the transaction runs, as
// they would to an add then: a held key makes no job, a debounce
// replaces its job's data, a free key is taken.
func testTxDedup(t *testing.T, c *goredis.Client) {
	x := newTxStore(t, c, storeOptions{})
	deb := backend.Dedup{Key: "deb", Mode: backend.DedupDebounce}
	held := x.add(t, "q", backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "held"}}).Jobs[0].ID
	waiting := x.add(t, "q", backend.NewJob{Name: "n", Data: []byte("v1"), Dedup: deb}).Jobs[0].ID
	key := x.appKey("order")
	r := x.result(t, x.commit(t, key,
		backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "held"}},
		backend.NewJob{Name: "n", Data: []byte("v2"), Dedup: deb},
		backend.NewJob{Name: "n", Dedup: backend.Dedup{Key: "free"}}))
	want := []backend.Added{
		{Queue: "q", ID: held, Duplicate: true, Dedup: backend.DedupIgnored},
		{Queue: "q", ID: waiting, Duplicate: true, Dedup: backend.DedupReplaced},
		{Queue: "q", ID: "3"},
	}
	if !slices.EqualFunc(r.Jobs, want, func(a, b backend.Added) bool { return a.ID == b.ID && a.Duplicate == b.Duplicate && a.Dedup == b.Dedup }) {
		t.Fatalf("result %+v, want %+v", r.Jobs, want)
	}
	if !x.exists(t, key) {
		t.Error("the application's write did not land")
	}
	if j := x.job(t, "q", waiting); string(j.Data) != "v2" {
		t.Errorf("data %q, want v2", j.Data)
	}
	if h, err := x.rb.DedupHolder(x.ctx, "q", "free"); err != nil || h.JobID != "3" {
		t.Errorf("holder of free = %+v, %v; want job 3", h, err)
	}
}

// TestTxServerGone: an add whose transaction could not reach the server
// has no result: ErrUnavailable, for the transaction may or may not have
// run.
func TestTxServerGone(t *testing.T) {
	m, _ := redistest.Mini(t)
	// A client that tries once: the server is gone for good.
	c := goredis.NewClient(&goredis.Options{Addr: m.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	x := newTxStore(t, c, storeOptions{})
	pipe := c.TxPipeline()
	a, err := x.rb.InTx(pipe).Add(x.ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := pipe.Exec(x.ctx); err == nil {
		t.Fatal("Exec succeeded without a server")
	}
	if _, err := a.Result(); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Result: %v, want ErrUnavailable", err)
	}
}

// TestTxCluster: on Redis Cluster a transaction's keys must be in one
// slot. Its keys in the queue's slot (HashTag) commit; keys of another
// slot fail the whole transaction, which go-redis refuses to send
// (ErrCrossSlot) or, under WATCH, the server refuses to run (CROSSSLOT):
// nothing lands, and the add reports ErrNotCommitted and ErrInvalid. A
// flow across queues is refused before anything is queued. miniredis
// serves a Cluster client but checks no slots; the WATCH case needs the
// real server.
func TestTxCluster(t *testing.T) {
	for _, kind := range []string{"miniredis", "redis"} {
		t.Run(kind, func(t *testing.T) {
			var c *goredis.ClusterClient
			if kind == "miniredis" {
				m, _ := redistest.Mini(t)
				c = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{m.Addr()}})
				t.Cleanup(func() { _ = c.Close() })
			} else {
				c = redistest.Start(t, &redistest.Options{Cluster: true}).ClusterClient(t, nil)
			}
			b := factory(c, nil)(t, storeOptions{}).(*Backend)
			ctx := t.Context()
			job := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "confirm"}}}
			inSlot := "order:" + b.HashTag("q") + ":1"
			elsewhere := "order:1"
			if keySlot(inSlot) == keySlot(elsewhere) {
				t.Fatal("the keys share a slot")
			}
			run := func(key string) (backend.TxAdd, error) {
				var a backend.TxAdd
				_, err := c.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
					pipe.Set(ctx, key, "saved", 0)
					var err error
					a, err = b.InTx(pipe).Add(ctx, "q", job)
					return err
				})
				return a, err
			}
			notCommitted := func(what string, a backend.TxAdd) {
				t.Helper()
				if _, err := a.Result(); !errors.Is(err, backend.ErrNotCommitted) || !errors.Is(err, backend.ErrInvalid) {
					t.Errorf("%s: Result %v, want ErrNotCommitted and ErrInvalid", what, err)
				}
			}
			countJobs := func() int {
				t.Helper()
				n, err := b.Counts(ctx, "q")
				if err != nil {
					t.Fatal(err)
				}
				return n.Waiting
			}

			a, err := run(inSlot)
			if err != nil {
				t.Fatalf("keys in the queue's slot: %v", err)
			}
			if _, err := a.Result(); err != nil || c.Exists(ctx, inSlot).Val() != 1 || countJobs() != 1 {
				t.Fatalf("keys in the queue's slot: Result %v, key %d, jobs %d", err, c.Exists(ctx, inSlot).Val(), countJobs())
			}

			a, err = run(elsewhere)
			if !errors.Is(err, goredis.ErrCrossSlot) {
				t.Fatalf("a key of another slot: %v, want ErrCrossSlot", err)
			}
			notCommitted("a key of another slot", a)
			if c.Exists(ctx, elsewhere).Val() != 0 || countJobs() != 1 {
				t.Errorf("a key of another slot: the key or a job landed")
			}

			if kind == "redis" {
				err := c.Watch(ctx, func(tx *goredis.Tx) error {
					_, err := tx.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
						pipe.Set(ctx, inSlot, "again", 0)
						pipe.Set(ctx, elsewhere, "saved", 0)
						var err error
						a, err = b.InTx(pipe).Add(ctx, "q", job)
						return err
					})
					return err
				}, inSlot)
				if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
					t.Fatalf("under WATCH, a key of another slot: %v, want CROSSSLOT", err)
				}
				notCommitted("under WATCH, a key of another slot", a)
				if c.Get(ctx, inSlot).Val() != "saved" || c.Exists(ctx, elsewhere).Val() != 0 || countJobs() != 1 {
					t.Errorf("under WATCH, a key of another slot: a write or a job landed")
				}
			}

			pipe := c.TxPipeline()
			flow := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "p", Children: []backend.NewJob{{Name: "c", Queue: "other"}}}}}
			if _, err := b.InTx(pipe).Add(ctx, "q", flow); !errors.Is(err, backend.ErrUnsupported) || pipe.Len() != 0 {
				t.Errorf("a flow across queues: %v, %d commands queued; want ErrUnsupported and none", err, pipe.Len())
			}
		})
	}
}
