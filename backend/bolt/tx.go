package bolt

import (
	"context"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// Tx is the store inside a transaction of the application's own, on the
// *bbolt.DB that the store was opened on with OpenDB.
// Jobs added through it exist if and only if that transaction commits,
// and blocked Lease calls are woken once it has committed, not before.
// Reads through it see the transaction's own writes.
//
// A Tx is used only while its transaction is open, on the goroutine that
// runs it. The application reads and writes its own buckets beside
// drover's, but never drover's: every top-level bucket whose name begins
// with "q:" belongs to the store.
type Tx struct {
	b  *Backend
	tx *bbolt.Tx
}

var _ backend.Tx = (*Tx)(nil)

// InTx returns the store inside tx, a transaction of the store's database
// (from db.Update or the store's Update for adds; also db.View for
// reads).
func (b *Backend) InTx(tx *bbolt.Tx) *Tx { return &Tx{b: b, tx: tx} }

// Backend returns the store.
func (x *Tx) Backend() backend.Backend { return x.b }

// check fails when the transaction cannot be used by the store: it has
// ended, belongs to another database, or (with write set) is read-only.
func (x *Tx) check(write bool) error {
	switch {
	case x.b.isClosed():
		return errClosed
	case x.tx == nil || x.tx.DB() == nil:
		return backend.Invalid("Tx", "the transaction has ended")
	case x.tx.DB() != x.b.db:
		return backend.Invalid("Tx", "the transaction belongs to another database than the store's")
	case write && !x.tx.Writable():
		return backend.Invalid("Tx", "adding jobs needs a read-write transaction (db.Update), not db.View")
	}
	return nil
}

// Add adds jobs in the transaction with the rules of Backend.Add; the
// result is known at once. An invalid request (ErrInvalid, ErrConflict for
// a taken flow child ID) leaves the transaction as it was; after any other
// error it holds part of the add, and the application must roll it back
// (return the error from its Update function).
func (x *Tx) Add(ctx context.Context, queue string, req *backend.AddRequest) (backend.TxAdd, error) {
	if err := x.check(true); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := req.Validate(queue, x.b.opts.MaxPayload, x.b.opts.Clock.Now()); err != nil {
		return nil, err
	}
	t := &txn{b: x.b, tx: x.tx, private: true, now: x.b.opts.Clock.Now()}
	var res backend.AddResult
	err := t.add(queue, req, &res)
	if err == nil {
		err = t.end()
	}
	if err != nil {
		return nil, translate(err)
	}
	if u := x.b.updating.Load(); u != nil && u.tx == x.tx {
		u.merge(t) // Update hands the jobs off before it commits
	} else {
		x.tx.OnCommit(t.afterCommit)
	}
	return txAdded(res), nil
}

// Update runs fn in a read-write transaction of the store's database, as
// db.Update does. Jobs that fn adds through InTx(tx) are leased to the idle
// workers of their queues in the same commit, so that they start as soon
// as jobs added by Add do; with db.Update, workers are woken after the
// commit and lease the jobs in a commit of their own. If fn returns an
// error or panics, the transaction is rolled back, as by db.Update.
func (b *Backend) Update(fn func(tx *bbolt.Tx) error) (err error) {
	if b.isClosed() {
		return errClosed
	}
	tx, err := b.db.Begin(true)
	if err != nil {
		return translate(err)
	}
	// The transaction holds the database's write lock, so no other Update
	// runs until it ends.
	u := &txn{b: b, tx: tx, private: true, id: privateTx}
	b.updating.Store(u)
	committed := false
	defer func() {
		b.updating.Store(nil)
		if !committed {
			_ = tx.Rollback()
		}
		u.deliver(committed)
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := u.handOffAdded(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return translate(err)
	}
	committed = true
	u.afterCommit()
	return nil
}

// privateTx is the transaction number of an Update's hand-off: no
// waiter's look is in it, so it claims idle waiters only.
const privateTx = ^uint64(0)

// merge takes over the wake-ups of t, an add in the same transaction.
func (t *txn) merge(o *txn) {
	for q, n := range o.wake {
		t.addWake(q, n)
	}
	for q, tm := range o.due {
		t.noteDue(q, tm)
	}
	for q := range o.notify {
		if t.notify == nil {
			t.notify = make(map[string]struct{})
		}
		t.notify[q] = struct{}{}
	}
}

// handOffAdded hands the jobs made ready by the Update's adds to idle
// waiters, in the Update's transaction. Unlike the committer's, it cannot
// run the application's writes again without a hand-off, so a hand-off
// that fails (a storage error, which the commit would meet too) fails
// the Update.
func (t *txn) handOffAdded() error {
	for name, n := range t.wake {
		if n <= 0 {
			continue
		}
		if _, err := t.queue(name, false); err != nil {
			return err
		}
	}
	t.now = t.b.opts.Clock.Now()
	if err := t.handOff(); err != nil {
		return err
	}
	return t.end()
}

// txAdded is the result of a Tx's add, known at once.
type txAdded backend.AddResult

func (r txAdded) Result() (backend.AddResult, error) { return backend.AddResult(r), nil }

// Job returns a job as the transaction sees it, with the rules of
// Backend.Job.
func (x *Tx) Job(ctx context.Context, queue, id string) (*backend.Job, error) {
	if err := x.check(false); err != nil {
		return nil, err
	}
	if err := backend.ValidateQueueName(queue); err != nil {
		return nil, err
	}
	j, err := jobIn(x.tx, queue, id)
	return j, translate(err)
}
