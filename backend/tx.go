package backend

import "context"

// Tx is a transaction of the application's own, in which a store adds
// jobs: they exist if and only if the transaction commits, together with
// the application's own writes. A store that can do this gives its own
// constructor (bolt.Backend.InTx wraps a *bbolt.Tx of the database the
// store was opened on; redis.Backend.InTx wraps a go-redis MULTI/EXEC
// pipeline). A Tx is used only while its transaction is open, by the
// goroutine that runs it.
type Tx interface {
	// Backend returns the store the transaction adds jobs to.
	Backend() Backend
	// Add adds jobs as part of the transaction, with the rules of
	// Backend.Add. A request that is invalid (including one made in a
	// transaction that has ended, is read-only or belongs to another
	// database) fails with ErrInvalid and leaves the transaction as it
	// was. Any other error leaves it holding part of the add: the
	// application must then roll it back.
	Add(ctx context.Context, queue string, req *AddRequest) (TxAdd, error)
}

// TxAdd is an add made in a Tx. Its result is known once the store has run
// the add: at once where the transaction's writes are visible to itself
// (bbolt), after the transaction has run where they are not (Redis
// MULTI/EXEC).
type TxAdd interface {
	// Result returns what the add did. Where the result waits for the
	// transaction, it fails with ErrNotCommitted until the transaction has
	// run, and for good if the transaction was discarded (a WATCH
	// conflict). Where it is known at once, a rollback of the transaction
	// undoes the jobs it reports.
	Result() (AddResult, error)
}
