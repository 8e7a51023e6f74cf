package bolt

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/droverhq/drover/backend"
)

// Flows. A parent's children are not in its job record. The deps bucket
// of the parent's queue holds, under the parent's job key, the number of
// its children still pending, and under depKey one entry per child: the
// child's place among the children and, once it ended, its outcome. So a
// child's end rewrites two small values, whatever the number of its
// siblings, and the parent's record only when the parent changes state.
//
// A parent waits in waiting-children while any child is pending. Whenever
// a child reaches a final state, the same transaction records the outcome
// in its entry and applies the child's failure policy; a parent that
// fails this way reports to its own parent in turn. A child whose parent
// is gone (removed) reports to no one. The entries go when the parent
// does.

// dep is a parent's entry for one child.
type dep struct {
	pos  int                   // the child's place among the children added
	done *backend.ChildOutcome // nil while the child is pending
}

// childDep is an entry with the ref of its child.
type childDep struct {
	ref backend.JobRef
	dep
}

// putDep writes the entry under key k, which it keeps.
func (q *qtx) putDep(k []byte, d *dep) error {
	return q.put(q.deps, q.t.keep(k), q.t.encode(func(b []byte) []byte { return appendDep(b, d) }))
}

// putPending writes the number of children still pending of parent jk.
func (q *qtx) putPending(jk []byte, n int) error {
	return q.put(q.deps, q.t.keep(jk), q.t.encode(func(b []byte) []byte { return appendPending(b, n) }))
}

// pending reads the number of children still pending of parent jk.
func (q *qtx) pending(jk []byte) (int, error) {
	v := get(q.depCursor(), jk)
	if v == nil {
		return 0, fmt.Errorf("%w: flow parent %s/%s has entries for children but no count", errCorrupt, q.name, keyID(jk))
	}
	return decodePending(v)
}

// pendingOf reads the number of children still pending of job jk: 0 for
// a job that is not a flow parent.
func (q *qtx) pendingOf(jk []byte) (int, error) {
	if get(q.depCursor(), jk) == nil {
		return 0, nil
	}
	return q.pending(jk)
}

// childDeps returns the entries of parent jk's children, in the order the
// children were added.
func (q *qtx) childDeps(jk []byte) ([]childDep, error) {
	var pb [32]byte
	prefix := underJob(jk, pb[:0])
	var deps []childDep
	c := q.depCursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		ref, ok := depChild(k, len(prefix))
		d, err := decodeDep(v)
		if err == nil && !ok {
			err = errCorrupt
		}
		if err != nil {
			return nil, fmt.Errorf("flow entry %q of %s: %w", k, q.name, err)
		}
		deps = append(deps, childDep{ref: ref, dep: d})
	}
	slices.SortFunc(deps, func(a, b childDep) int { return cmp.Compare(a.pos, b.pos) })
	return deps, nil
}

// fillChildren sets the Children and ChildOutcomes of j, which the job
// record does not hold, from its entries.
func (q *qtx) fillChildren(j *backend.Job) error {
	var kb [24]byte
	deps, err := q.childDeps(jobKey(j.ID, kb[:0]))
	if err != nil || len(deps) == 0 {
		return err
	}
	j.Children = make([]backend.JobRef, len(deps))
	for i, d := range deps {
		j.Children[i] = d.ref
		if d.done == nil {
			continue
		}
		if j.ChildOutcomes == nil {
			j.ChildOutcomes = make(map[string]backend.ChildOutcome)
		}
		j.ChildOutcomes[d.ref.String()] = *d.done
	}
	return nil
}

// dropDeps removes the entries and the count of parent jk.
func (q *qtx) dropDeps(jk []byte) error {
	c := q.depCursor()
	if k, _ := c.Seek(jk); k == nil || !bytes.HasPrefix(k, jk) {
		return nil // not a parent: the common case costs one seek
	}
	if err := q.delAt(c, jk); err != nil {
		return err
	}
	var pb [32]byte
	prefix := underJob(jk, pb[:0])
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		q.t.writes++
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// openDep is the entry of a pending child, found from the child's side,
// with its parent.
type openDep struct {
	q       *qtx         // the parent's queue
	p       *backend.Job // the parent
	pk, key []byte       // the parent's job key, the entry's key
	d       dep
	pending int // the parent's children still pending
}

// pendingDep returns the entry of child under parent while the child is
// pending; nil when the parent is gone, the dependency was dropped, or the
// child has ended already.
func (t *txn) pendingDep(parent, child backend.JobRef) (*openDep, error) {
	pq, err := t.queue(parent.Queue, false)
	if pq == nil || err != nil {
		return nil, err
	}
	p, err := pq.job(parent.ID)
	if p == nil || err != nil {
		return nil, err
	}
	o := &openDep{q: pq, p: p, pk: jobKey(p.ID, nil)}
	o.key = depKey(o.pk, child, nil)
	v := get(pq.depCursor(), o.key)
	if v == nil {
		return nil, nil
	}
	if o.d, err = decodeDep(v); err != nil || o.d.done != nil {
		return nil, err
	}
	if o.pending, err = pq.pending(o.pk); err != nil {
		return nil, err
	}
	return o, nil
}

// end records the end of the child with its outcome, or with nil drops
// the dependency; either way one child fewer is pending.
func (o *openDep) end(done *backend.ChildOutcome) error {
	o.pending--
	var err error
	if done == nil {
		err = o.q.delAt(o.q.depCursor(), o.key)
	} else {
		o.d.done = done
		err = o.q.putDep(o.key, &o.d)
	}
	if err != nil {
		return err
	}
	return o.q.putPending(o.pk, o.pending)
}

// waits reports whether the parent waits in waiting-children.
func (o *openDep) waits() bool { return o.p.State == backend.StateWaitingChildren }

// childEnded reports the end of flow child c (completed or failed) to its
// parent.
func (t *txn) childEnded(c *backend.Job) error {
	ref := backend.JobRef{Queue: c.Queue, ID: c.ID}
	o, err := t.pendingDep(*c.Parent, ref)
	if o == nil || err != nil {
		return err
	}
	done := &backend.ChildOutcome{State: backend.StateCompleted, Result: c.Result}
	readyNow, failParent := false, false
	if c.State != backend.StateCompleted {
		done = &backend.ChildOutcome{State: backend.StateFailed, Reason: c.FailedReason}
		switch c.FailurePolicy {
		case backend.PolicyIgnore:
			done.Ignored = true
		case backend.PolicyRemove:
			done = nil
		case backend.PolicyContinue:
			done.Ignored = true
			readyNow = true
		default: // PolicyFailParent
			failParent = true
		}
	}
	if err := o.end(done); err != nil || !o.waits() {
		return err
	}
	switch {
	case failParent:
		reason := fmt.Sprintf("child %s failed: %s", ref, c.FailedReason)
		return t.finish(o.q, o.p, backend.StateFailed, nil, reason, nil)
	case readyNow || o.pending == 0:
		return t.parentReady(o.q, o.p)
	}
	return nil
}

// parentReady moves a parent whose children have ended from
// waiting-children to waiting (or delayed, while its own delay runs).
func (t *txn) parentReady(q *qtx, p *backend.Job) error {
	err := q.move(p, func() {
		p.State = backend.StateWaiting
		if p.RunAt.After(t.now) {
			p.State = backend.StateDelayed
		} else {
			q.readyAt(p, false)
		}
	})
	if err != nil {
		return err
	}
	return q.announce(p)
}

// dropChild removes the dependency of parent on child, as when the
// pending child is removed; a parent left with no pending child becomes
// ready. The parent keeps the outcome of a child that ended.
func (t *txn) dropChild(parent, child backend.JobRef) error {
	o, err := t.pendingDep(parent, child)
	if o == nil || err != nil {
		return err
	}
	if err := o.end(nil); err != nil {
		return err
	}
	if o.waits() && o.pending == 0 {
		return t.parentReady(o.q, o.p)
	}
	return nil
}

// removeTree removes job j and the descendants that are not active; active
// descendants are detached (their Parent cleared) and finish on their own.
// j itself must not be active. A pending j is dropped from its parent.
func (t *txn) removeTree(q *qtx, j *backend.Job, top bool) error {
	var kb [24]byte
	deps, err := q.childDeps(jobKey(j.ID, kb[:0]))
	if err != nil {
		return err
	}
	self := backend.JobRef{Queue: q.name, ID: j.ID}
	for _, d := range deps {
		if err := t.removeChild(self, d.ref); err != nil {
			return err
		}
	}
	if top && j.Parent != nil && !j.State.Final() {
		if err := t.dropChild(*j.Parent, self); err != nil {
			return err
		}
	}
	return q.deleteJob(j)
}

// removeChild removes child, a child of parent, with its descendants, or
// detaches it when it is active. A job that is gone or no longer the
// parent's child is left alone.
func (t *txn) removeChild(parent, child backend.JobRef) error {
	cq, err := t.queue(child.Queue, false)
	if cq == nil || err != nil {
		return err
	}
	cj, err := cq.job(child.ID)
	if cj == nil || err != nil || cj.Parent == nil || *cj.Parent != parent {
		return err
	}
	if cj.State == backend.StateActive {
		cj.Parent = nil
		return cq.putJob(cj)
	}
	return t.removeTree(cq, cj, false)
}
