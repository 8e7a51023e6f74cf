package bench

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/droverhq/drover/backend"
)

// countingStore counts the store calls of workers and the jobs each
// carries, to tell how well a worker batches.
type countingStore struct {
	backend.Backend
	leases, leased       atomic.Int64
	settles, settlements atomic.Int64
}

func (c *countingStore) Lease(ctx context.Context, queue string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	res, err := c.Backend.Lease(ctx, queue, req)
	if len(res.Jobs) > 0 {
		c.leases.Add(1)
		c.leased.Add(int64(len(res.Jobs)))
	}
	return res, err
}

func (c *countingStore) Settle(ctx context.Context, queue string, req *backend.SettleRequest) (backend.SettleResult, error) {
	c.settles.Add(1)
	c.settlements.Add(int64(len(req.Settlements)))
	return c.Backend.Settle(ctx, queue, req)
}

// report adds the mean jobs per Lease that returned jobs and per Settle.
func (c *countingStore) report(b *testing.B) {
	if n := c.leases.Load(); n > 0 {
		b.ReportMetric(float64(c.leased.Load())/float64(n), "jobs/lease")
	}
	if n := c.settles.Load(); n > 0 {
		b.ReportMetric(float64(c.settlements.Load())/float64(n), "jobs/settle")
	}
}
