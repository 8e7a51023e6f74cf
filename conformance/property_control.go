package conformance

import (
	"errors"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/droverhq/drover/backend"
)

// The job machine's control calls (backend.JobController): retry,
// promote, change and cancel of a job drawn from all of them, so that the
// wrong states are tried as often as the right ones. The model predicts
// each call's outcome, and check replays each job's events to its state.

// ctlOp is one control call on one job.
type ctlOp struct {
	kind     string // "retry", "promote", "change", "cancel"
	j        *modelJob
	priority int
	runAt    time.Time // zero: the change leaves the run time
}

func (m *jobMachine) drawCtl(t *rapid.T) ctlOp {
	op := ctlOp{kind: rapid.SampledFrom([]string{"retry", "promote", "change", "cancel"}).Draw(t, "control")}
	op.j = m.pick(t, op.kind, func(*modelJob) bool { return true })
	if op.kind == "change" {
		op.priority = rapid.IntRange(0, 3).Draw(t, "new priority")
		if d := rapid.SampledFrom([]int{-1, 0, 5, 20}).Draw(t, "new run time"); d >= 0 {
			op.runAt = m.clock.Now().Add(time.Duration(d) * time.Second)
		}
	}
	return op
}

// call makes op's call on the store.
func (m *jobMachine) call(t *rapid.T, op ctlOp) (backend.CancelResult, error) {
	ctx := t.Context()
	switch op.kind {
	case "retry":
		_, err := m.store.Retry(ctx, propQueue, &backend.RetryRequest{ID: op.j.id})
		return backend.CancelResult{}, err
	case "promote":
		_, err := m.store.Promote(ctx, propQueue, &backend.PromoteRequest{ID: op.j.id})
		return backend.CancelResult{}, err
	case "change":
		req := &backend.ChangeRequest{ID: op.j.id, Priority: &op.priority}
		if !op.runAt.IsZero() {
			req.RunAt = &op.runAt
		}
		return backend.CancelResult{}, m.store.Change(ctx, propQueue, req)
	default:
		return m.store.Cancel(ctx, propQueue, &backend.CancelRequest{ID: op.j.id, Reason: "prop"})
	}
}

// settleCtl checks op's outcome against the model, whose state is as it
// was before the call, and moves the model on.
func (m *jobMachine) settleCtl(t *rapid.T, op ctlOp, res backend.CancelResult, err error) {
	j := op.j
	var ok bool
	switch op.kind {
	case "retry":
		ok = j.state == backend.StateFailed || j.state == backend.StateCompleted
	case "promote":
		ok = j.state == backend.StateDelayed
	case "change":
		ok = j.state == backend.StateWaiting || j.state == backend.StateDelayed
	case "cancel":
		ok = j.state != backend.StateFailed && j.state != backend.StateCompleted
	}
	if !ok {
		if !errors.Is(err, backend.ErrWrongState) {
			t.Fatalf("%s of %s job %s = %v, want ErrWrongState", op.kind, j.state, j.id, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s of %s job %s: %v", op.kind, j.state, j.id, err)
	}
	switch op.kind {
	case "retry":
		j.state, j.attempts, j.stalled, j.stallFailed, j.cancelled, j.attemptsUnsure = backend.StateWaiting, 0, 0, false, false, false
	case "promote":
		j.state = backend.StateWaiting
	case "change":
		j.priority = op.priority
		if !op.runAt.IsZero() {
			j.state, j.runAt = backend.StateWaiting, op.runAt
		}
		if j.state == backend.StateDelayed || !op.runAt.IsZero() {
			j.state = backend.StateWaiting
			if j.runAt.After(m.clock.Now()) {
				j.state = backend.StateDelayed
			}
		}
	case "cancel":
		if res.Active != (j.state == backend.StateActive) {
			t.Fatalf("cancel of %s job %s reported Active %v", j.state, j.id, res.Active)
		}
		if j.state == backend.StateActive {
			j.cancelled = true
		} else {
			j.state = backend.StateFailed
		}
	}
}

func (m *jobMachine) control(t *rapid.T) {
	op := m.drawCtl(t)
	res, err := m.call(t, op)
	m.settleCtl(t, op, res, err)
}

// concurrentControl makes control calls on distinct jobs at once: calls on
// different jobs commute, so the model predicts each one's outcome.
func (m *jobMachine) concurrentControl(t *rapid.T) {
	n := rapid.IntRange(2, 4).Draw(t, "concurrent calls")
	var ops []ctlOp
	seen := map[string]bool{}
	for range n {
		op := m.drawCtl(t)
		if !seen[op.j.id] {
			seen[op.j.id] = true
			ops = append(ops, op)
		}
	}
	type outcome struct {
		res backend.CancelResult
		err error
	}
	out := make([]outcome, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() {
			res, err := m.call(t, op)
			out[i] = outcome{res, err}
		})
	}
	wg.Wait()
	for i, op := range ops {
		m.settleCtl(t, op, out[i].res, out[i].err)
	}
}

// replay returns the state each job's events lead to, by the rules of
// backend.Event.
func replay(evs []backend.Event) map[string]backend.JobState {
	st := make(map[string]backend.JobState)
	for _, e := range evs {
		switch e.Type {
		case backend.EventWaiting, backend.EventPrioritized, backend.EventRetried, backend.EventPromoted:
			st[e.JobID] = backend.StateWaiting
		case backend.EventDelayed:
			st[e.JobID] = backend.StateDelayed
		case backend.EventActive:
			st[e.JobID] = backend.StateActive
		case backend.EventCompleted:
			st[e.JobID] = backend.StateCompleted
		case backend.EventFailed:
			st[e.JobID] = backend.StateFailed
		case backend.EventChanged, backend.EventSnoozed:
			st[e.JobID] = backend.StateWaiting
			if !e.RunAt.IsZero() {
				st[e.JobID] = backend.StateDelayed
			}
		case backend.EventCancelled:
			if st[e.JobID] != backend.StateActive { // an active job is only marked
				st[e.JobID] = backend.StateFailed
			}
		}
	}
	return st
}
