package bolt

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// request is one write operation waiting for the committer.
type request struct {
	fn   func(t *txn) error
	err  error
	done chan struct{}
}

// txn is the state of one write transaction shared by a batch of requests.
type txn struct {
	b   *Backend
	tx  *bbolt.Tx
	now time.Time
	// private is set in a transaction of the application's (tx.go), which
	// runs on the application's goroutine: it does not use the memory that
	// only the committer may touch.
	private bool
	writes  int // bumped by every write; see run
	queues  map[string]*qtx
	// Effects applied after a successful commit.
	wake    map[string]int       // queue → jobs made ready
	notify  map[string]struct{}  // queues with new events
	due     map[string]time.Time // queue → earliest due time or lease expiry made
	arena   []byte               // the block alloc carves from
	blocks  [][]byte             // every block taken, handed back by release
	scratch []byte
	tmpJob  *backend.Job // see newJobRecord
	evBuf   []byte       // reused by the first queue that appends events
	// Hand-off to blocked Lease calls (handoff.go).
	id     uint64    // unique to this transaction among the store's
	looked []*waiter // waiters whose look found nothing in it
	claims []*claim  // waiters it claimed
}

// update queues fn for the committer and waits until its transaction is
// durable (or failed). fn must read and check before it writes: see run.
func (b *Backend) update(ctx context.Context, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	b.pending = append(b.pending, r)
	b.cond.Signal()
	if b.gather > 0 && len(b.pending) >= b.gather {
		b.gather = 0
		select {
		case b.gathered <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	// The request may be in a transaction already, so it is waited for
	// even when ctx ends: its outcome is then known to the caller.
	<-r.done
	return r.err
}

// commitLoop is the committer: it takes every queued request, runs them in
// one transaction, commits, answers, and starts over at once.
//
// Starting at once splits steady concurrent callers into cohorts: those
// answered by one commit call again while the next is being written, so
// each transaction holds only part of them (with a worker, its Lease and
// its Settle alternate, one per commit). So the committer remembers how
// many requests recent commits saw (those of the batch and those that
// queued while it was written), and before it starts a transaction with
// fewer it gathers briefly: until that many have queued, or a quarter of
// the last commit's duration (at most maxGather) has passed. A lone caller
// never waits: its count is one.
func (b *Backend) commitLoop() {
	defer close(b.stopped)
	var batch []*request
	var recent [8]int // requests seen by the last commits, a ring
	var ri int
	var lastCommit time.Duration
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		for len(b.pending) == 0 && !b.closed {
			b.cond.Wait()
		}
		if len(b.pending) == 0 {
			b.mu.Unlock()
			return
		}
		if want := slices.Max(recent[:]); len(b.pending) < want && !b.closed {
			deadline := time.Now().Add(min(lastCommit/4, maxGather))
			b.gather = want
			for len(b.pending) < want && !b.closed {
				d := time.Until(deadline)
				if d <= 0 {
					break
				}
				b.mu.Unlock()
				timer.Reset(d)
				select {
				case <-b.gathered:
				case <-timer.C:
				}
				timer.Stop()
				b.mu.Lock()
			}
			b.gather = 0
		}
		batch, b.pending = b.pending, batch[:0]
		b.mu.Unlock()
		start := time.Now()
		b.runBatch(batch)
		lastCommit = time.Since(start)
		b.mu.Lock()
		recent[ri%len(recent)] = len(batch) + len(b.pending)
		ri++
		b.mu.Unlock()
		clear(batch)
	}
}

// maxGather bounds the committer's wait for requests to join a batch.
const maxGather = 500 * time.Microsecond

// runBatch runs a batch in one transaction; if one of its requests failed
// after writing, it runs each request alone so that it fails alone.
func (b *Backend) runBatch(batch []*request) {
	if len(batch) > 1 && !b.runWith(batch, true) {
		for _, r := range batch {
			b.runWith([]*request{r}, false)
		}
		return
	}
	if len(batch) == 1 {
		b.runWith(batch, false)
	}
}

// runWith runs the requests in one transaction with a hand-off to blocked
// Lease calls, and runs them again without one if the hand-off failed, so
// that a hand-off never fails a writer. It reports what runTx does.
func (b *Backend) runWith(batch []*request, shared bool) bool {
	ok, handOffFailed := b.runTx(batch, shared, true)
	if handOffFailed {
		ok, _ = b.runTx(batch, shared, false)
	}
	return ok
}

// runTx runs the requests in one transaction and answers them. With shared
// set, it reports false without answering anyone when a request failed
// after writing, having rolled the transaction back. With handOff set, it
// hands jobs made ready to blocked Lease calls (handoff.go); if that
// fails, it rolls back and reports handOffFailed without answering
// anyone.
func (b *Backend) runTx(batch []*request, shared, handOff bool) (ok, handOffFailed bool) {
	answer := func(err error) {
		for _, r := range batch {
			if err != nil {
				r.err = err
			}
			close(r.done)
		}
	}
	tx, err := b.db.Begin(true)
	if err != nil {
		answer(translate(err))
		return true, false
	}
	b.txSeq++
	t := &txn{b: b, tx: tx, id: b.txSeq, scratch: b.scratch, evBuf: b.evBuf}
	b.evBuf = nil
	committed := false
	defer func() {
		t.deliver(committed) // claims not answered yet get nil: look again
		t.release()
	}()
	for _, r := range batch {
		w := t.writes
		r.err = t.run(r)
		if r.err != nil && t.writes != w {
			_ = tx.Rollback()
			if shared {
				return false, false
			}
			r.err = translate(r.err)
			close(r.done)
			return true, false
		}
		if r.err != nil {
			r.err = translate(r.err)
		}
	}
	if t.writes == 0 {
		_ = tx.Rollback()
		b.markIdle(t.looked)
		answer(nil)
		return true, false
	}
	if handOff {
		if err := t.handOff(); err != nil {
			_ = tx.Rollback()
			b.opts.Logger.Warn("drover: bolt: hand-off to waiting leases failed; committing without it", "err", err)
			return false, true
		}
	}
	if err := t.end(); err != nil {
		_ = tx.Rollback()
		if shared {
			return false, false
		}
		answer(translate(err))
		return true, false
	}
	if err := tx.Commit(); err != nil {
		b.opts.Logger.Error("drover: bolt: commit failed", "err", err)
		answer(translate(err))
		return true, false
	}
	committed = true
	b.commits.Add(1)
	b.markIdle(t.looked)
	t.deliver(true)
	t.afterCommit()
	answer(nil)
	return true, false
}

// afterCommit applies the effects of the committed transaction: it wakes
// blocked Lease calls for the jobs it made ready and for the due times it
// brought forward, and Events calls for its events.
func (t *txn) afterCommit() {
	for q, n := range t.wake {
		if n > 0 {
			t.b.wake(q, n)
		}
	}
	for q, tm := range t.due {
		t.b.rearm(q, tm)
	}
	for q := range t.notify {
		t.b.notifyEvents(q)
	}
}

// run runs one request. A request that fails before its first write leaves
// the transaction as it was; one that fails after (or panics) is reported
// through the write count, and the caller rolls back.
func (t *txn) run(r *request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			t.writes++
			err = fmt.Errorf("drover: bolt: panic in write: %v", p)
		}
	}()
	t.now = t.b.opts.Clock.Now()
	return r.fn(t)
}

// end writes the meta records and events of the queues changed by the
// transaction's requests, once for all of them, and trims the event logs.
func (t *txn) end() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drover: bolt: panic in write: %v", p)
		}
	}()
	for _, q := range t.queues {
		if err := q.flush(); err != nil {
			return err
		}
	}
	return nil
}

// alloc returns n bytes that stay valid for the transaction (bbolt keeps
// the slices given to Put until commit), carved from larger blocks. The
// blocks are reused by later transactions (see release), so a commit does
// not leave its encoded records to the garbage collector.
func (t *txn) alloc(n int) []byte {
	if n > arenaBlock/16 || t.private {
		return make([]byte, n)
	}
	if cap(t.arena)-len(t.arena) < n {
		t.arena = t.b.block()
		t.blocks = append(t.blocks, t.arena)
	}
	s := t.arena[len(t.arena) : len(t.arena)+n : len(t.arena)+n]
	t.arena = t.arena[:len(t.arena)+n]
	return s
}

// arenaBlock is the size of the blocks alloc carves from; maxSpare bounds
// the blocks kept between transactions.
const (
	arenaBlock = 64 << 10
	maxSpare   = 64
)

// block returns an empty block for alloc. Only the committer calls it.
func (b *Backend) block() []byte {
	if n := len(b.spare); n > 0 {
		blk := b.spare[n-1]
		b.spare = b.spare[:n-1]
		return blk[:0]
	}
	return make([]byte, 0, arenaBlock)
}

// release hands the transaction's blocks and scratch buffer back for
// reuse; the transaction must be over (committed or rolled back).
func (t *txn) release() {
	for _, blk := range t.blocks {
		if len(t.b.spare) < maxSpare {
			t.b.spare = append(t.b.spare, blk)
		}
	}
	clear(t.blocks)
	t.blocks, t.arena = t.blocks[:0], nil
	t.b.scratch = t.scratch
	for _, q := range t.queues {
		if cap(q.evBuf) > cap(t.b.evBuf) {
			t.b.evBuf = q.evBuf[:0]
		}
	}
}

func (t *txn) addWake(queue string, n int) {
	if t.wake == nil {
		t.wake = make(map[string]int)
	}
	t.wake[queue] += n
}

// noteDue records a due time or lease expiry made by the transaction, so
// that blocked Lease calls sleeping past it re-arm.
func (t *txn) noteDue(queue string, tm time.Time) {
	if t.due == nil {
		t.due = make(map[string]time.Time)
	}
	if old, ok := t.due[queue]; !ok || tm.Before(old) {
		t.due[queue] = tm
	}
}
