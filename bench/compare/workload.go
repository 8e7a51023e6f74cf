package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Measurements, in the order of the table.
const (
	mBulk     = "bulk add (chunks of 1,000)"
	mInFlight = "add, 50 in flight"
	mProcess  = "process no-op jobs (1 worker × 50)"
	mMemory   = "memory per waiting job"
	mP50      = "dispatch latency p50"
	mP99      = "dispatch latency p99"
	mMax      = "dispatch latency max"
	mUsed     = "workers used per round"
)

var measurements = []string{mBulk, mInFlight, mProcess, mMemory, mP50, mP99, mMax, mUsed}

// higherIsBetter tells how to read a ratio.
var higherIsBetter = map[string]bool{mBulk: true, mInFlight: true, mProcess: true, mUsed: true}

type result struct {
	System      string  `json:"system"`
	Measurement string  `json:"measurement"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	Note        string  `json:"note,omitempty"`
}

// config sizes every workload; all systems get the same.
type config struct {
	Addr        string
	Jobs        int           // jobs added by the add workloads
	ProcessJobs int           // jobs waiting before the processing run
	Chunk       int           // jobs per bulk add
	InFlight    int           // concurrent single adds
	Concurrency int           // worker concurrency when processing
	Workers     int           // idle workers in the dispatch run
	Rounds      int           // bulks in the dispatch run
	JobTime     time.Duration // how long a dispatch job runs
}

// errNoBulk is returned by AddBulk of a system without a bulk add.
var errNoBulk = errors.New("no bulk add")

// system is a Go queue library driven through the same workloads.
type system interface {
	Name() string
	// Reset empties the store and readies the benchmark queue.
	Reset(ctx context.Context) error
	// AddBulk adds all payloads in one call, or returns errNoBulk.
	AddBulk(ctx context.Context, payloads [][]byte) error
	// Add adds one job.
	Add(ctx context.Context, payload []byte) error
	// StartWorker runs one worker of the given concurrency that calls
	// handle for each job; stop ends it and waits.
	StartWorker(ctx context.Context, concurrency int, handle func(payload []byte)) (stop func(), err error)
	// UsedMemory is the server's INFO memory used_memory.
	UsedMemory(ctx context.Context) (int64, error)
	Close() error
}

func payload(i int) []byte { return fmt.Appendf(nil, `{"n":%d}`, i) }

// runSystem runs every workload on s and returns its rows.
func runSystem(ctx context.Context, s system, cfg config, exe string) ([]result, error) {
	var out []result
	add := func(m string, v float64, unit, note string) {
		out = append(out, result{System: s.Name(), Measurement: m, Value: v, Unit: unit, Note: note})
	}

	// Bulk add.
	if err := s.Reset(ctx); err != nil {
		return nil, err
	}
	rate, err := bulkAdd(ctx, s, cfg)
	switch {
	case errors.Is(err, errNoBulk):
		add(mBulk, 0, "jobs/s", "no bulk add API")
	case err != nil:
		return nil, fmt.Errorf("%s bulk add: %w", s.Name(), err)
	default:
		add(mBulk, rate, "jobs/s", "")
	}

	// Concurrent single adds, and the memory the waiting jobs take.
	if err := s.Reset(ctx); err != nil {
		return nil, err
	}
	m0, err := s.UsedMemory(ctx)
	if err != nil {
		return nil, err
	}
	rate, err = concurrentAdd(ctx, s, cfg.Jobs, cfg.InFlight)
	if err != nil {
		return nil, fmt.Errorf("%s concurrent add: %w", s.Name(), err)
	}
	m1, err := s.UsedMemory(ctx)
	if err != nil {
		return nil, err
	}
	add(mInFlight, rate, "jobs/s", "")
	add(mMemory, float64(m1-m0)/float64(cfg.Jobs), "bytes/job", fmt.Sprintf("%d waiting", cfg.Jobs))

	// Processing no-op jobs.
	if err := s.Reset(ctx); err != nil {
		return nil, err
	}
	rate, err = process(ctx, s, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s process: %w", s.Name(), err)
	}
	add(mProcess, rate, "jobs/s", fmt.Sprintf("%d jobs", cfg.ProcessJobs))

	// Dispatch latency with idle workers in separate processes.
	if err := s.Reset(ctx); err != nil {
		return nil, err
	}
	d, err := dispatch(ctx, s, cfg, exe)
	if err != nil {
		return nil, fmt.Errorf("%s dispatch: %w", s.Name(), err)
	}
	note := fmt.Sprintf("%d workers × 1, %d rounds", cfg.Workers, cfg.Rounds)
	add(mP50, d.p50, "ms", note)
	add(mP99, d.p99, "ms", note)
	add(mMax, d.max, "ms", note)
	add(mUsed, d.used, "workers", fmt.Sprintf("of %d", cfg.Workers))
	return out, nil
}

func bulkAdd(ctx context.Context, s system, cfg config) (float64, error) {
	batches := make([][][]byte, 0, cfg.Jobs/cfg.Chunk+1)
	for i := 0; i < cfg.Jobs; i += cfg.Chunk {
		n := min(cfg.Chunk, cfg.Jobs-i)
		b := make([][]byte, n)
		for j := range b {
			b[j] = payload(i + j)
		}
		batches = append(batches, b)
	}
	start := time.Now()
	for _, b := range batches {
		if err := s.AddBulk(ctx, b); err != nil {
			return 0, err
		}
	}
	return float64(cfg.Jobs) / time.Since(start).Seconds(), nil
}

func concurrentAdd(ctx context.Context, s system, n, inFlight int) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, inFlight)
	start := time.Now()
	for range inFlight {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := s.Add(ctx, payload(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// fill adds n waiting jobs, in bulk where the system can.
func fill(ctx context.Context, s system, n, chunk int) error {
	for i := 0; i < n; i += chunk {
		b := make([][]byte, min(chunk, n-i))
		for j := range b {
			b[j] = payload(i + j)
		}
		err := s.AddBulk(ctx, b)
		if errors.Is(err, errNoBulk) {
			_, err = concurrentAdd(ctx, s, n, 50)
			return err
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// process times one worker of cfg.Concurrency through cfg.ProcessJobs
// waiting no-op jobs: from the worker's start to the last handler's return.
func process(ctx context.Context, s system, cfg config) (float64, error) {
	if err := fill(ctx, s, cfg.ProcessJobs, cfg.Chunk); err != nil {
		return 0, err
	}
	var done atomic.Int64
	all := make(chan struct{})
	n := int64(cfg.ProcessJobs)
	start := time.Now()
	stop, err := s.StartWorker(ctx, cfg.Concurrency, func([]byte) {
		if done.Add(1) == n {
			close(all)
		}
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("only %d of %d jobs processed in 5 minutes", done.Load(), n)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// percentile returns the p-th percentile (0–100) of sorted xs, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(p/100*float64(len(sorted))+0.999999) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

func sortedCopy(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}
