package queue_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// instantStore leases as many jobs as asked for at once and accepts every
// renewal and settlement, so that a benchmark measures the worker alone.
type instantStore struct {
	backend.Backend
	seq atomic.Int64
}

func (s *instantStore) Lease(ctx context.Context, q string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	jobs := make([]*backend.Job, req.Max)
	for i := range jobs {
		id := strconv.FormatInt(s.seq.Add(1), 10)
		jobs[i] = &backend.Job{Queue: q, ID: id, Name: "noop", State: backend.StateActive, Attempts: 1, Lease: backend.Lease{JobID: id, Token: id}}
	}
	return backend.LeaseResult{Jobs: jobs}, nil
}

func (s *instantStore) Renew(ctx context.Context, q string, req *backend.RenewRequest) (backend.RenewResult, error) {
	return backend.RenewResult{}, nil
}

func (s *instantStore) Settle(ctx context.Context, q string, req *backend.SettleRequest) (backend.SettleResult, error) {
	return backend.SettleResult{Errs: make([]error, len(req.Settlements))}, nil
}

// BenchmarkWorkerOverhead runs no-op jobs at concurrency 50 against a store
// that costs nothing: the worker's own ceiling. One op is one job. In
// "deep", each job's handler needs 16 KB of stack, as handlers that call
// into drivers, decoders and tracing do: a goroutine new to it must grow
// its stack first.
func BenchmarkWorkerOverhead(b *testing.B) {
	for _, c := range []struct {
		name    string
		timeout time.Duration
		deep    bool
	}{{"no-timeout", 0, false}, {"timeout", time.Minute, false}, {"deep", 0, true}} {
		timeout := c.timeout
		b.Run(c.name, func(b *testing.B) {
			st := &instantStore{}
			n := int64(b.N)
			var done atomic.Int64
			fin := make(chan struct{})
			w, err := queue.NewWorker(&timeoutStore{st, timeout}, "bench", func(ctx context.Context, j *queue.Job) ([]byte, error) {
				if c.deep {
					useStack(16 << 10)
				}
				if done.Add(1) == n {
					close(fin)
				}
				return nil, nil
			}, &queue.WorkerOptions{Concurrency: 50, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if err := w.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			<-fin
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
			if err := w.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// timeoutStore gives every leased job a timeout.
type timeoutStore struct {
	*instantStore
	timeout time.Duration
}

func (s *timeoutStore) Lease(ctx context.Context, q string, req *backend.LeaseRequest) (backend.LeaseResult, error) {
	res, err := s.instantStore.Lease(ctx, q, req)
	for _, j := range res.Jobs {
		j.Timeout = s.timeout
	}
	return res, err
}
