package redis

import (
	"context"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// Settle ends attempts in one script call, whatever their number.
func (b *Backend) Settle(ctx context.Context, queue string, req *backend.SettleRequest) (backend.SettleResult, error) {
	if err := b.check(queue); err != nil {
		return backend.SettleResult{}, err
	}
	if err := req.Validate(); err != nil {
		return backend.SettleResult{}, err
	}
	if len(req.Settlements) == 0 {
		return backend.SettleResult{}, nil
	}
	out := backend.SettleResult{Errs: make([]error, len(req.Settlements))}
	args := make([]any, 0, 7*len(req.Settlements))
	var idx []int
	for i, s := range req.Settlements {
		if err := s.Validate(b.opts.MaxPayload); err != nil {
			out.Errs[i] = err
			continue
		}
		// A completion, by far the most common settlement, needs neither
		// reason, stack nor delay: its group is shorter.
		args = append(args, s.Lease.JobID, s.Lease.Token, int(s.Outcome), string(s.Result))
		if s.Outcome != backend.OutcomeComplete {
			stack := ""
			if len(s.Stacktrace) > 0 {
				stack = encodeList(s.Stacktrace)
			}
			delay := durMs(s.RetryDelay)
			if s.Outcome == backend.OutcomeRelease {
				// A release has no delay: its slot holds the queue.
				delay = ceilMs(s.HoldQueue)
			}
			args = append(args, s.Reason, stack, delay)
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return out, nil
	}
	res, err := b.run(ctx, "settle", queue, args...)
	if err != nil {
		return backend.SettleResult{}, err
	}
	a, _ := res.([]any)
	if len(a) != len(idx)+1 {
		return backend.SettleResult{}, fmt.Errorf("drover: settle in %s: reply of %d values for %d settlements", queue, len(a), len(idx))
	}
	for k, i := range idx {
		if st, _ := a[k].(string); st == "LOST" {
			l := req.Settlements[i].Lease
			out.Errs[i] = fmt.Errorf("%w: job %s in %s", backend.ErrLeaseLost, l.JobID, queue)
		}
	}
	if n, _ := a[len(a)-1].(int64); n > 0 {
		b.drainOutbox(ctx, queue)
	}
	return out, nil
}
