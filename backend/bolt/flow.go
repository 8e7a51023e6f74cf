package bolt

import (
	"fmt"
	"slices"

	"github.com/droverhq/drover/backend"
)

// Flows. A parent waits in waiting-children while any child in its
// Children list has no outcome. Whenever a child reaches a final state, the
// same transaction records the outcome on the parent and applies the
// child's failure policy; a parent that fails this way reports to its own
// parent in turn. A child whose parent is gone (removed) reports to no one.

// childEnded reports the end of flow child c (completed or failed) to its
// parent.
func (t *txn) childEnded(c *backend.Job) error {
	pq, err := t.queue(c.Parent.Queue, false)
	if pq == nil || err != nil {
		return err
	}
	p, err := pq.job(c.Parent.ID)
	if p == nil || err != nil {
		return err
	}
	ref := backend.JobRef{Queue: c.Queue, ID: c.ID}
	key := ref.String()
	at := slices.Index(p.Children, ref)
	if at < 0 {
		return nil // the dependency was dropped
	}
	if _, ok := p.ChildOutcomes[key]; ok {
		return nil
	}
	if p.ChildOutcomes == nil {
		p.ChildOutcomes = make(map[string]backend.ChildOutcome)
	}
	waiting := p.State == backend.StateWaitingChildren
	readyNow := false
	if c.State == backend.StateCompleted {
		p.ChildOutcomes[key] = backend.ChildOutcome{State: backend.StateCompleted, Result: c.Result}
	} else {
		failed := backend.ChildOutcome{State: backend.StateFailed, Reason: c.FailedReason}
		switch c.FailurePolicy {
		case backend.PolicyIgnore:
			failed.Ignored = true
			p.ChildOutcomes[key] = failed
		case backend.PolicyRemove:
			p.Children = slices.Delete(p.Children, at, at+1)
		case backend.PolicyContinue:
			failed.Ignored = true
			p.ChildOutcomes[key] = failed
			readyNow = true
		default: // PolicyFailParent
			p.ChildOutcomes[key] = failed
			if waiting {
				reason := fmt.Sprintf("child %s failed: %s", key, c.FailedReason)
				return t.finish(pq, p, backend.StateFailed, nil, reason, nil)
			}
		}
	}
	if waiting && (readyNow || p.PendingChildren() == 0) {
		return t.parentReady(pq, p)
	}
	return pq.putJob(p)
}

// parentReady moves a parent whose children have ended from
// waiting-children to waiting (or delayed, while its own delay runs).
func (t *txn) parentReady(q *qtx, p *backend.Job) error {
	err := q.move(p, func() {
		p.State = backend.StateWaiting
		if p.RunAt.After(t.now) {
			p.State = backend.StateDelayed
		}
	})
	if err != nil {
		return err
	}
	return q.announce(p)
}

// dropChild removes the dependency of parent ref on child, as when the
// pending child is removed; a parent left with no pending child becomes
// ready.
func (t *txn) dropChild(parent backend.JobRef, child backend.JobRef) error {
	pq, err := t.queue(parent.Queue, false)
	if pq == nil || err != nil {
		return err
	}
	p, err := pq.job(parent.ID)
	if p == nil || err != nil {
		return err
	}
	at := slices.Index(p.Children, child)
	if at < 0 {
		return nil
	}
	if _, ended := p.ChildOutcomes[child.String()]; ended {
		return nil // the parent keeps the outcome of a child that ended
	}
	p.Children = slices.Delete(p.Children, at, at+1)
	if p.State == backend.StateWaitingChildren && p.PendingChildren() == 0 {
		return t.parentReady(pq, p)
	}
	return pq.putJob(p)
}

// removeTree removes job j and the descendants that are not active; active
// descendants are detached (their Parent cleared) and finish on their own.
// j itself must not be active. A pending j is dropped from its parent.
func (t *txn) removeTree(q *qtx, j *backend.Job, top bool) error {
	for _, c := range j.Children {
		cq, err := t.queue(c.Queue, false)
		if err != nil {
			return err
		}
		if cq == nil {
			continue
		}
		cj, err := cq.job(c.ID)
		if err != nil {
			return err
		}
		if cj == nil || cj.Parent == nil || *cj.Parent != (backend.JobRef{Queue: q.name, ID: j.ID}) {
			continue
		}
		if cj.State == backend.StateActive {
			cj.Parent = nil
			if err := cq.putJob(cj); err != nil {
				return err
			}
			continue
		}
		if err := t.removeTree(cq, cj, false); err != nil {
			return err
		}
	}
	if top && j.Parent != nil && !j.State.Final() {
		if err := t.dropChild(*j.Parent, backend.JobRef{Queue: q.name, ID: j.ID}); err != nil {
			return err
		}
	}
	return q.deleteJob(j)
}
