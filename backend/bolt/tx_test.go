package bolt

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

var ordersBucket = []byte("orders")

// openShared opens a database of the application's with a bucket of its
// own, and the store in it.
func openShared(t *testing.T) (*bbolt.DB, *Backend) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "app.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(ordersBucket)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b, err := OpenDB(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkInvariants(t, b)
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db, b
}

// saveOrder is the application's own write, and the job that goes with it.
func saveOrder(tx *bbolt.Tx, b *Backend, id string) (backend.AddResult, error) {
	if err := tx.Bucket(ordersBucket).Put([]byte(id), []byte("order "+id)); err != nil {
		return backend.AddResult{}, err
	}
	added, err := b.InTx(tx).Add(ctx, "mail", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "confirm", Data: []byte(id)}}})
	if err != nil {
		return backend.AddResult{}, err
	}
	return added.Result()
}

// The rules every store follows in a transaction are in the conformance
// suite (area Tx); these are bbolt's own: reads in the transaction, several
// adds in one, the transactions it refuses, wake-ups after commit only,
// Update's hand-off, and kills.

func TestTxAddSeesItsOwnWrites(t *testing.T) {
	db, b := openShared(t)
	var res backend.AddResult
	err := db.Update(func(tx *bbolt.Tx) (err error) {
		if res, err = saveOrder(tx, b, "o-1"); err != nil {
			return err
		}
		// The transaction sees its job; the store's own reads wait for
		// the commit.
		j, err := b.InTx(tx).Job(ctx, "mail", res.Jobs[0].ID)
		if err != nil || j.State != backend.StateWaiting || string(j.Data) != "o-1" {
			t.Errorf("job in its transaction: %+v, %v", j, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	j, err := b.Job(ctx, "mail", res.Jobs[0].ID)
	if err != nil || string(j.Data) != "o-1" {
		t.Fatalf("job after commit: %+v, %v", j, err)
	}
	evs, err := b.Events(ctx, "mail", &backend.EventsRequest{})
	if err != nil || len(evs.Events) == 0 || evs.Events[0].Type != backend.EventAdded || evs.Events[0].JobID != j.ID {
		t.Fatalf("events: %+v, %v", evs.Events, err)
	}
	// Two adds in one transaction, and a duplicate of a chosen ID.
	err = db.Update(func(tx *bbolt.Tx) error {
		x := b.InTx(tx)
		for range 2 {
			if _, err := x.Add(ctx, "mail", &backend.AddRequest{Jobs: []backend.NewJob{{ID: "fixed", Name: "n"}}}); err != nil {
				return err
			}
		}
		a, err := x.Add(ctx, "mail", &backend.AddRequest{Jobs: []backend.NewJob{{ID: "fixed", Name: "n"}}})
		if err != nil {
			return err
		}
		r, err := a.Result()
		if err != nil || !r.Jobs[0].Duplicate {
			t.Errorf("third add of a chosen ID: %+v, %v", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(t, b, "mail"); c.Waiting != 2 {
		t.Fatalf("counts %+v, want 2 waiting", c)
	}
}

// TestTxAddWakesAfterCommitOnly blocks a Lease on the queue, rolls back a
// transaction that added a job (the Lease must not be woken: it stays
// registered and unsignalled), then commits one: the Lease gets its job.
func TestTxAddWakesAfterCommitOnly(t *testing.T) {
	db, b := openShared(t)
	type leased struct {
		res backend.LeaseResult
		err error
	}
	got := make(chan leased, 1)
	go func() {
		res, err := b.Lease(ctx, "mail", &backend.LeaseRequest{Max: 1, TTL: time.Minute, Wait: time.Hour})
		got <- leased{res, err}
	}()
	idle := func() *waiter {
		b.wmu.Lock()
		defer b.wmu.Unlock()
		for _, w := range b.waiters["mail"] {
			if w.idle {
				return w
			}
		}
		return nil
	}
	var w *waiter
	for deadline := time.Now().Add(deadlineReal); w == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the Lease never went idle")
		}
		time.Sleep(time.Millisecond)
		w = idle()
	}
	_ = db.Update(func(tx *bbolt.Tx) error {
		if _, err := saveOrder(tx, b, "o-1"); err != nil {
			t.Fatal(err)
		}
		return errors.New("rolled back")
	})
	b.wmu.Lock()
	woken := !w.queued || len(w.ch) > 0
	b.wmu.Unlock()
	if woken {
		t.Fatal("a rolled-back transaction woke a blocked Lease")
	}
	var res backend.AddResult
	if err := db.Update(func(tx *bbolt.Tx) (err error) {
		res, err = saveOrder(tx, b, "o-2")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l.err != nil || len(l.res.Jobs) != 1 || l.res.Jobs[0].ID != res.Jobs[0].ID {
			t.Fatalf("lease: %+v, %v", l.res, l.err)
		}
	case <-time.After(deadlineReal):
		t.Fatal("a committed transaction did not wake the blocked Lease")
	}
}

func TestTxAddRefusesWhatItCannotUse(t *testing.T) {
	db, b := openShared(t)
	req := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}
	before := dumpDB(t, db)

	// A read-only transaction.
	_ = db.View(func(tx *bbolt.Tx) error {
		if _, err := b.InTx(tx).Add(ctx, "mail", req); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("add in a View: %v", err)
		}
		return nil
	})
	// A transaction of another database.
	other, err := bbolt.Open(filepath.Join(t.TempDir(), "other.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_ = other.Update(func(tx *bbolt.Tx) error {
		if _, err := b.InTx(tx).Add(ctx, "mail", req); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("add in another database's transaction: %v", err)
		}
		return nil
	})
	// A transaction that has ended.
	var ended *bbolt.Tx
	_ = db.Update(func(tx *bbolt.Tx) error { ended = tx; return nil })
	if _, err := b.InTx(ended).Add(ctx, "mail", req); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("add in an ended transaction: %v", err)
	}
	// Bad requests leave the transaction as it was: the application's
	// own write still commits, alone.
	bad := []*backend.AddRequest{
		{Jobs: []backend.NewJob{{Name: ""}}},
		{Jobs: []backend.NewJob{{Name: "n", Data: make([]byte, backend.DefaultMaxPayload+1)}}},
		{},
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for i, r := range bad {
			if _, err := b.InTx(tx).Add(ctx, "mail", r); !errors.Is(err, backend.ErrInvalid) {
				t.Errorf("bad request %d: %v", i, err)
			}
		}
		if _, err := b.InTx(tx).Add(ctx, "bad queue name!\x00", req); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("bad queue name: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if after := dumpDB(t, db); after != before {
		t.Fatalf("refused adds changed the file:\nbefore %s\nafter  %s", before, after)
	}
	// A closed store.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bbolt.Tx) error {
		if _, err := b.InTx(tx).Add(ctx, "mail", req); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("add after Close: %v", err)
		}
		return nil
	})
	// Close left the application's database open.
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(ordersBucket).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatalf("the application's database after the store's Close: %v", err)
	}
}

func TestOpenDBChecks(t *testing.T) {
	if _, err := OpenDB(nil, nil); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("nil database: %v", err)
	}
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A bucket in drover's namespace that is not drover's.
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("q:mine"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDB(db, nil); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("a foreign q: bucket: %v", err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("q:mine")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDB(ro, nil); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("read-only database: %v", err)
	}
	ro.Close()
}

// dumpDB describes every bucket and key of db, for before-and-after
// comparisons.
func dumpDB(t *testing.T, db *bbolt.DB) string {
	t.Helper()
	var sb strings.Builder
	var walk func(bk *bbolt.Bucket, depth int) error
	walk = func(bk *bbolt.Bucket, depth int) error {
		return bk.ForEach(func(k, v []byte) error {
			fmt.Fprintf(&sb, "%d %q=%q;", depth, k, v)
			if v == nil {
				return walk(bk.Bucket(k), depth+1)
			}
			return nil
		})
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			fmt.Fprintf(&sb, "[%q]", name)
			return walk(bk, 1)
		})
	}); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// helperTxAdd saves orders in the application's database named by the
// last argument (named after the one before it), each with its confirmation job in the same transaction,
// rolling every fifth back, and prints "saved <order> <job>" or
// "rolledback <order>" once each transaction has ended, until it is
// killed.
func helperTxAdd() {
	path, run := os.Args[len(os.Args)-1], os.Args[len(os.Args)-2]
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	b, err := OpenDB(db, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	rollback := errors.New("rolled back")
	for i := 0; ; i++ {
		order := run + "-" + strconv.Itoa(i)
		var res backend.AddResult
		err := db.Update(func(tx *bbolt.Tx) (err error) {
			bk, err := tx.CreateBucketIfNotExists(ordersBucket)
			if err != nil {
				return err
			}
			added, err := b.InTx(tx).Add(ctx, "mail", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "confirm", Data: []byte(order)}}})
			if err != nil {
				return err
			}
			if res, err = added.Result(); err != nil {
				return err
			}
			// The order records its job, as an application would.
			if err := bk.Put([]byte(order), []byte(res.Jobs[0].ID)); err != nil {
				return err
			}
			if i%5 == 4 {
				return rollback
			}
			return nil
		})
		switch {
		case errors.Is(err, rollback):
			fmt.Fprintln(out, "rolledback", order)
		case err != nil:
			fmt.Fprintln(os.Stderr, "update:", err)
			os.Exit(1)
		default:
			fmt.Fprintln(out, "saved", order, res.Jobs[0].ID)
		}
		out.Flush()
	}
}

// TestTxAddSurvivesKills kills a process that saves orders with their jobs
// at a random point of its loop of transactions, and checks that every
// order has its job and every job its order, that every saved one is
// there and no rolled-back one is.
func TestTxAddSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("kills helper processes")
	}
	path := filepath.Join(t.TempDir(), "app.db")
	saved, rolledBack := map[string]string{}, map[string]bool{}
	for round := range 3 {
		cmd := helper(t, "txadd", strconv.Itoa(round), path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		killAt := 20 + rand.IntN(200)
		for n := 0; sc.Scan(); n++ {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "saved":
				saved[f[1]] = f[2]
			case len(f) == 2 && f[0] == "rolledback":
				rolledBack[f[1]] = true
			default:
				t.Fatalf("round %d: helper said %q", round, sc.Text())
			}
			if n == killAt {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = cmd.Wait()

		// Reopen as a fresh process would, through the file check.
		b, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		orders := map[string]string{}
		if err := b.db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket(ordersBucket).ForEach(func(k, v []byte) error {
				orders[string(k)] = string(v)
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		jobs, err := b.Jobs(ctx, "mail", &backend.JobsRequest{State: backend.StateWaiting, Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs.Jobs) != len(orders) {
			t.Fatalf("round %d: %d orders and %d jobs", round, len(orders), len(jobs.Jobs))
		}
		for _, j := range jobs.Jobs {
			if orders[string(j.Data)] != j.ID {
				t.Fatalf("round %d: job %s for order %q, which records job %q", round, j.ID, j.Data, orders[string(j.Data)])
			}
		}
		for order, id := range saved {
			if orders[order] != id {
				t.Fatalf("round %d: saved order %s (job %s) lost: %q", round, order, id, orders[order])
			}
		}
		for order := range rolledBack {
			if _, ok := orders[order]; ok {
				t.Fatalf("round %d: rolled-back order %s is there", round, order)
			}
		}
		checkInvariants(t, b)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// idleLease starts a Lease that blocks on queue and returns its outcome
// channel once it is idle (its look found nothing), so that a transaction
// may hand it jobs.
func idleLease(t *testing.T, b *Backend, queue string) <-chan backend.LeaseResult {
	t.Helper()
	got := make(chan backend.LeaseResult, 1)
	go func() {
		res, err := b.Lease(ctx, queue, &backend.LeaseRequest{Max: 1, TTL: time.Minute, Wait: time.Hour})
		if err != nil {
			t.Errorf("lease: %v", err)
		}
		got <- res
	}()
	for deadline := time.Now().Add(deadlineReal); ; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Lease never went idle")
		}
		b.wmu.Lock()
		idle := len(b.waiters[queue]) == 1 && b.waiters[queue][0].idle
		b.wmu.Unlock()
		if idle {
			return got
		}
	}
}

// TestUpdateHandsJobsOffInItsCommit: jobs added in Backend.Update reach an
// idle Lease in the Update's own commit, with no commit of the store's.
func TestUpdateHandsJobsOffInItsCommit(t *testing.T) {
	_, b := openShared(t)
	got := idleLease(t, b, "mail")
	before := b.commits.Load()
	var res backend.AddResult
	if err := b.Update(func(tx *bbolt.Tx) (err error) {
		res, err = saveOrder(tx, b, "o-1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if len(l.Jobs) != 1 || l.Jobs[0].ID != res.Jobs[0].ID || l.Jobs[0].State != backend.StateActive {
			t.Fatalf("lease: %+v", l)
		}
	case <-time.After(deadlineReal):
		t.Fatal("the idle Lease got nothing")
	}
	if n := b.commits.Load() - before; n != 0 {
		t.Fatalf("the store committed %d times to lease a job handed off", n)
	}
	j, err := b.Job(ctx, "mail", res.Jobs[0].ID)
	if err != nil || j.State != backend.StateActive {
		t.Fatalf("job after the hand-off: %+v, %v", j, err)
	}
}

// TestUpdateRolledBackHandsNothing: an Update that fails (or panics) after
// adding jobs leaves none, and an idle Lease stays waiting, then takes
// the job of a later Update.
func TestUpdateRolledBackHandsNothing(t *testing.T) {
	db, b := openShared(t)
	before := dumpDB(t, db)
	got := idleLease(t, b, "mail")
	boom := errors.New("declined")
	if err := b.Update(func(tx *bbolt.Tx) error {
		if _, err := saveOrder(tx, b, "o-1"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		_ = b.Update(func(tx *bbolt.Tx) error {
			if _, err := saveOrder(tx, b, "o-2"); err != nil {
				return err
			}
			panic("application bug")
		})
	}()
	if after := dumpDB(t, db); after != before {
		t.Fatalf("rolled-back Updates changed the file:\nbefore %s\nafter  %s", before, after)
	}
	var res backend.AddResult
	if err := b.Update(func(tx *bbolt.Tx) (err error) {
		res, err = saveOrder(tx, b, "o-3")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if len(l.Jobs) != 1 || l.Jobs[0].ID != res.Jobs[0].ID || string(l.Jobs[0].Data) != "o-3" {
			t.Fatalf("lease: %+v", l)
		}
	case <-time.After(deadlineReal):
		t.Fatal("the Lease got nothing from the committed Update")
	}
}
