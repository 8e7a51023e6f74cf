package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/droverhq/drover/backend"
)

// jobReader reads a job: a store, or a store inside a transaction.
type jobReader interface {
	Job(ctx context.Context, queue, id string) (*backend.Job, error)
}

// AddTx adds one job as part of tx, a transaction of the application's
// own: the job exists if and only if that transaction commits, together
// with the application's own writes, and idle workers are woken once it
// has. Each store makes its Tx: bolt.Backend.InTx wraps a *bbolt.Tx of
// the database the store was opened on (bolt.OpenDB); redis.Backend.InTx
// wraps a go-redis MULTI/EXEC pipeline. tx must be of the queue's store.
//
// Bad input gets a typed error (ErrInvalid) and leaves the transaction as
// it was, so the application may still commit its own writes; after any
// other error the application must roll its transaction back.
func (q *Queue) AddTx(ctx context.Context, tx backend.Tx, name string, data []byte, opts *AddOptions) (*TxJob, error) {
	jobs, err := q.addBulkTx(ctx, tx, AddOpAdd, []BulkJob{{Name: name, Data: data, Options: opts}})
	if err != nil {
		return nil, err
	}
	return jobs[0], nil
}

// AddBulkTx adds jobs as part of tx, all or none, with the rules of
// AddBulk and AddTx.
func (q *Queue) AddBulkTx(ctx context.Context, tx backend.Tx, jobs []BulkJob) ([]*TxJob, error) {
	return q.addBulkTx(ctx, tx, AddOpBulk, jobs)
}

func (q *Queue) addBulkTx(ctx context.Context, tx backend.Tx, op AddOp, jobs []BulkJob) ([]*TxJob, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if tx == nil || tx.Backend() != q.b {
		return nil, fmt.Errorf("drover: add to %s: %w", q.name, backend.Invalid("Tx", "the transaction is not of the queue's store"))
	}
	call := &AddCall{Queue: q.name, Op: op, Tx: true, Jobs: make([]backend.NewJob, len(jobs))}
	for i, bj := range jobs {
		call.Jobs[i] = bj.Options.with(q.defaults).newJob(bj.Name, bj.Data)
	}
	var add backend.TxAdd
	err := q.runAdd(ctx, call, func(ctx context.Context, call *AddCall) error {
		var err error
		if add, err = tx.Add(ctx, q.name, &backend.AddRequest{Jobs: call.Jobs}); err != nil {
			return err
		}
		if res, err := add.Result(); err == nil {
			call.Added = res.Jobs
		}
		return nil
	})
	if err == nil && add == nil {
		err = fmt.Errorf("add middleware did not add the jobs")
	}
	if err != nil {
		return nil, fmt.Errorf("drover: add to %s in a transaction: %w", q.name, err)
	}
	now := q.clock.Now()
	out := make([]*TxJob, len(jobs))
	for i := range out {
		out[i] = &TxJob{q: q, add: add, nj: &call.Jobs[i], i: i, at: now}
	}
	// Where the result is known at once, the jobs are built now, while
	// the transaction is open to read back duplicates in; elsewhere Job
	// builds them once the transaction has run, reading the store.
	if _, err := add.Result(); err == nil {
		r, ok := tx.(jobReader)
		if !ok {
			r = q.b
		}
		for _, j := range out {
			if j.job, err = j.build(ctx, r); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// AddArgsTx adds one job of args' kind as part of tx: it is Queue.AddTx
// for typed jobs.
func AddArgsTx[T Args](ctx context.Context, q *Queue, tx backend.Tx, args T, opts *AddOptions) (*TxJob, error) {
	bj, err := BulkJobOf(args, opts)
	if err != nil {
		return nil, err
	}
	return q.AddTx(ctx, tx, bj.Name, bj.Data, bj.Options)
}

// TxJob is a job added in an application's transaction.
type TxJob struct {
	q   *Queue
	add backend.TxAdd
	nj  *backend.NewJob
	i   int
	at  time.Time
	job *Job // built by AddBulkTx where the result is known at once
}

// Job returns the job as added, or the existing one with Duplicate set when
// its chosen ID was taken. It is known once the store has run the add: at
// once on bbolt, where the transaction sees its own writes (a rollback
// then undoes the job returned); on Redis once EXEC has run. Before that,
// or when the transaction was discarded, it fails with an error matching
// ErrNotCommitted.
func (j *TxJob) Job(ctx context.Context) (*Job, error) {
	if j.job != nil {
		return j.job, nil
	}
	return j.build(ctx, j.q.b)
}

func (j *TxJob) build(ctx context.Context, r jobReader) (*Job, error) {
	res, err := j.add.Result()
	if err != nil {
		return nil, fmt.Errorf("drover: add to %s in a transaction: %w", j.q.name, err)
	}
	n, err := j.q.flowNode(ctx, r, j.q.name, nil, j.nj, res.Jobs[j.i], j.at)
	if err != nil {
		return nil, err
	}
	return n.Job, nil
}
