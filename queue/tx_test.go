package queue_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
	"go.etcd.io/bbolt"
)

// sharedDB opens an application's database and the store in it.
func sharedDB(t *testing.T) (*bbolt.DB, *bolt.Backend) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "app.db"), 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := bolt.OpenDB(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return db, store
}

func TestAddTxOnBolt(t *testing.T) {
	db, store := sharedDB(t)
	ctx := t.Context()
	q, err := queue.New(store, "mail", &queue.Options{Defaults: &queue.AddOptions{Attempts: 5}})
	if err != nil {
		t.Fatal(err)
	}
	var first, dup, typed *queue.Job
	err = db.Update(func(tx *bbolt.Tx) error {
		x := store.InTx(tx)
		a, err := q.AddTx(ctx, x, "confirm", []byte("o-1"), &queue.AddOptions{ID: "o-1"})
		if err != nil {
			return err
		}
		if first, err = a.Job(ctx); err != nil {
			return err
		}
		// A duplicate is read back in the transaction, which holds the
		// database's write lock: a read of the store's own would wait.
		b, err := q.AddTx(ctx, x, "confirm", []byte("again"), &queue.AddOptions{ID: "o-1"})
		if err != nil {
			return err
		}
		if dup, err = b.Job(ctx); err != nil {
			return err
		}
		c, err := queue.AddArgsTx(ctx, q, x, welcome{To: "ada"}, nil)
		if err != nil {
			return err
		}
		typed, err = c.Job(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != "o-1" || first.State != queue.StateWaiting || first.Attempts != 5 || first.Duplicate {
		t.Fatalf("first: %+v", first)
	}
	if !dup.Duplicate || string(dup.Data) != "o-1" {
		t.Fatalf("duplicate: %+v", dup)
	}
	if typed.Name != "welcome" || string(typed.Data) != `{"to":"ada"}` {
		t.Fatalf("typed: %+v", typed)
	}
	c, err := q.Counts(ctx)
	if err != nil || c.Waiting != 2 {
		t.Fatalf("counts %+v, %v", c, err)
	}
}

func TestAddTxRefusesATransactionOfAnotherStore(t *testing.T) {
	db, store := sharedDB(t)
	_, other := sharedDB(t)
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := q.AddTx(ctx, other.InTx(tx), "n", nil, nil); !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("a transaction of another store: %v", err)
		}
		if _, err := q.AddTx(ctx, nil, "n", nil, nil); !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("no transaction: %v", err)
		}
		if _, err := q.AddTx(ctx, store.InTx(tx), "", nil, nil); !errors.Is(err, queue.ErrInvalid) {
			t.Errorf("no name: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := q.Counts(ctx); c.Waiting != 0 {
		t.Fatalf("counts %+v", c)
	}
}

// lateTx is a Tx whose result waits for its transaction to run, as on
// Redis: it adds at once but tells the result only after run.
type lateTx struct {
	backend.Tx
	ran bool
}

func (l *lateTx) Add(ctx context.Context, queue string, req *backend.AddRequest) (backend.TxAdd, error) {
	a, err := l.Tx.Add(ctx, queue, req)
	if err != nil {
		return nil, err
	}
	return lateAdd{l, a}, nil
}

type lateAdd struct {
	l *lateTx
	backend.TxAdd
}

func (a lateAdd) Result() (backend.AddResult, error) {
	if !a.l.ran {
		return backend.AddResult{}, backend.ErrNotCommitted
	}
	return a.TxAdd.Result()
}

func TestAddTxJobWaitsForTheTransaction(t *testing.T) {
	db, store := sharedDB(t)
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var late *lateTx
	var added *queue.TxJob
	err = db.Update(func(tx *bbolt.Tx) (err error) {
		late = &lateTx{Tx: store.InTx(tx)}
		if added, err = q.AddTx(ctx, late, "confirm", nil, &queue.AddOptions{Delay: time.Hour}); err != nil {
			return err
		}
		if _, err := added.Job(ctx); !errors.Is(err, queue.ErrNotCommitted) {
			t.Errorf("job before the transaction ran: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	late.ran = true
	j, err := added.Job(ctx)
	if err != nil || j.State != queue.StateDelayed || j.Name != "confirm" {
		t.Fatalf("job after the transaction ran: %+v, %v", j, err)
	}
}
