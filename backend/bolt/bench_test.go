package bolt

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// syncModes runs f with fsync on and off; off shows the CPU cost alone.
func syncModes(b *testing.B, f func(b *testing.B, s *Backend)) {
	b.Run("fsync", func(b *testing.B) { f(b, openTest(b, nil)) })
	b.Run("nosync", func(b *testing.B) { f(b, openTest(b, &Options{NoSync: true})) })
}

func BenchmarkAddBulk(b *testing.B) { syncModes(b, benchAddBulk) }

func benchAddBulk(b *testing.B, s *Backend) {
	jobs := make([]backend.NewJob, 1000)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: "bench", Data: []byte(`{"n":1}`)}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Add(ctx, "q", &backend.AddRequest{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(jobs))/b.Elapsed().Seconds(), "jobs/s")
}

func BenchmarkAddConcurrent(b *testing.B) { syncModes(b, benchAddConcurrent) }

func benchAddConcurrent(b *testing.B, s *Backend) {
	const writers = 50
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/writers + 1
	for range writers {
		wg.Go(func() {
			for range per {
				if _, err := s.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "bench"}}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*writers)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(per*writers)/float64(s.commits.Load()), "jobs/commit")
}

func BenchmarkProcess(b *testing.B) { syncModes(b, benchProcess) }

func benchProcess(b *testing.B, s *Backend) {
	jobs := make([]backend.NewJob, 1000)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: "bench"}
	}
	for done := 0; done < b.N; done += len(jobs) {
		if _, err := s.Add(ctx, "q", &backend.AddRequest{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := b.N
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				n := min(left, 100)
				left -= n
				mu.Unlock()
				if n == 0 {
					return
				}
				res, err := s.Lease(ctx, "q", &backend.LeaseRequest{Max: n, TTL: time.Minute})
				if err != nil {
					b.Error(err)
					return
				}
				ss := make([]backend.Settlement, len(res.Jobs))
				for i, j := range res.Jobs {
					ss[i] = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete}
				}
				if _, err := s.Settle(ctx, "q", &backend.SettleRequest{Settlements: ss}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// The raw bbolt benchmarks measure what the disk allows, to compare the
// store with: commits of one put each, and puts in batches, with fsync and
// the options Open uses.
func benchRawBolt(b *testing.B, batch int) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bbolt.Options{
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	name := []byte("b")
	val := make([]byte, 64)
	var seq uint64
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			bk.FillPercent = 1
			for range min(batch, b.N-i) {
				seq++
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, seq), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

func BenchmarkRawBoltCommit(b *testing.B)    { benchRawBolt(b, 1) }
func BenchmarkRawBoltBatch50(b *testing.B)   { benchRawBolt(b, 50) }
func BenchmarkRawBoltBatch1000(b *testing.B) { benchRawBolt(b, 1000) }

// BenchmarkOpen measures what opening a store costs as the file grows:
// the check of the file alone, bbolt's own open (which walks every page
// to rebuild its freelist), and Open, which does both. 1,000,000 jobs
// runs only with DROVER_BENCH_LARGE=1.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			if n > 100_000 && os.Getenv("DROVER_BENCH_LARGE") != "1" {
				b.Skip("set DROVER_BENCH_LARGE=1 to fill a store of", n)
			}
			path := filepath.Join(b.TempDir(), "drover.db")
			s, err := Open(path, &Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			jobs := make([]backend.NewJob, 1000)
			for i := range jobs {
				jobs[i] = backend.NewJob{Name: "bench", Data: []byte(`{"n":1}`)}
			}
			for range n / len(jobs) {
				if _, err := s.Add(ctx, "q", &backend.AddRequest{Jobs: jobs}); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%d jobs: a file of %d MB", n, fi.Size()>>20)
			b.Run("check", func(b *testing.B) {
				for b.Loop() {
					if _, err := checkExisting(path, time.Second); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("bbolt", func(b *testing.B) {
				for b.Loop() {
					db, err := openBolt(path, &Options{LockTimeout: time.Second})
					if err != nil {
						b.Fatal(err)
					}
					db.Close()
				}
			})
			b.Run("open", func(b *testing.B) {
				for b.Loop() {
					s, err := Open(path, nil)
					if err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
			})
		})
	}
}

// BenchmarkWideFlow adds a flow of one parent with many children, then
// leases and settles the children 50 at a time, as a worker would, until
// the parent is leased. One op is one flow; the timer covers the leases
// and settles, not the add. It reports what a child costs: time, commits,
// and the pages and bytes of pages written (bbolt's TxStats), which
// should not grow with the number of children.
func BenchmarkWideFlow(b *testing.B) {
	for _, width := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("children=%d", width), func(b *testing.B) {
			s := openTest(b, nil)
			children := make([]backend.NewJob, width)
			for i := range children {
				children[i] = backend.NewJob{Name: "child", Data: []byte(`{"n":1}`)}
			}
			req := &backend.AddRequest{Jobs: []backend.NewJob{{Name: "parent", Children: children}}}
			var pages, bytes int64
			var commits uint64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := s.Add(ctx, "q", req); err != nil {
					b.Fatal(err)
				}
				before, commits0 := s.db.Stats().TxStats, s.commits.Load()
				b.StartTimer()
				for ran := false; !ran; {
					res, err := s.Lease(ctx, "q", &backend.LeaseRequest{Max: 50, TTL: time.Minute})
					if err != nil {
						b.Fatal(err)
					}
					ss := make([]backend.Settlement, len(res.Jobs))
					for i, j := range res.Jobs {
						ss[i] = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete}
						ran = ran || j.Name == "parent"
					}
					if _, err := s.Settle(ctx, "q", &backend.SettleRequest{Settlements: ss}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				after := s.db.Stats().TxStats
				pages += after.GetPageCount() - before.GetPageCount()
				bytes += after.GetPageAlloc() - before.GetPageAlloc()
				commits += s.commits.Load() - commits0
			}
			n := float64(b.N * width)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/child")
			b.ReportMetric(float64(pages)/n, "pages/child")
			b.ReportMetric(float64(bytes)/n, "page-bytes/child")
			b.ReportMetric(float64(commits)/n, "commits/child")
		})
	}
}

// bulkBacklog is the number of jobs the bulk job-control benchmarks move;
// one op moves all of them, MaxBulk per call.
const bulkBacklog = 100_000

// BenchmarkRetryBulk retries a backlog of failed jobs by repeated Retry
// calls by state; failing them again between ops is not timed.
func BenchmarkRetryBulk(b *testing.B) { syncModes(b, benchRetryBulk) }

func benchRetryBulk(b *testing.B, s *Backend) {
	addBacklog(b, s, 0)
	for b.Loop() {
		b.StopTimer()
		for n := 0; n < bulkBacklog; {
			res, err := s.Lease(ctx, "q", &backend.LeaseRequest{Max: backend.MaxLease, TTL: time.Hour})
			if err != nil || len(res.Jobs) == 0 {
				b.Fatalf("lease after %d: %v", n, err)
			}
			ss := make([]backend.Settlement, len(res.Jobs))
			for i, j := range res.Jobs {
				ss[i] = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "bench"}
			}
			if _, err := s.Settle(ctx, "q", &backend.SettleRequest{Settlements: ss}); err != nil {
				b.Fatal(err)
			}
			n += len(res.Jobs)
		}
		b.StartTimer()
		moveAll(b, func() (int, error) {
			res, err := s.Retry(ctx, "q", &backend.RetryRequest{State: backend.StateFailed})
			return len(res.IDs), err
		})
	}
	b.ReportMetric(float64(b.N*bulkBacklog)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkPromoteBulk promotes a backlog of delayed jobs by repeated
// Promote calls; draining and adding them again between ops is not timed.
func BenchmarkPromoteBulk(b *testing.B) { syncModes(b, benchPromoteBulk) }

func benchPromoteBulk(b *testing.B, s *Backend) {
	for b.Loop() {
		b.StopTimer()
		if _, err := s.Drain(ctx, "q", &backend.DrainRequest{}); err != nil {
			b.Fatal(err)
		}
		addBacklog(b, s, time.Hour)
		b.StartTimer()
		moveAll(b, func() (int, error) {
			res, err := s.Promote(ctx, "q", &backend.PromoteRequest{})
			return len(res.IDs), err
		})
	}
	b.ReportMetric(float64(b.N*bulkBacklog)/b.Elapsed().Seconds(), "jobs/s")
}

// addBacklog adds bulkBacklog jobs to queue q, delayed by delay.
func addBacklog(b *testing.B, s *Backend, delay time.Duration) {
	jobs := make([]backend.NewJob, 1000)
	for i := range jobs {
		jobs[i] = backend.NewJob{Name: "bench", Data: []byte(`{"n":1}`), Delay: delay}
	}
	for range bulkBacklog / len(jobs) {
		if _, err := s.Add(ctx, "q", &backend.AddRequest{Jobs: jobs}); err != nil {
			b.Fatal(err)
		}
	}
}

// moveAll calls move, which moves up to MaxBulk jobs, until it has moved
// the whole backlog.
func moveAll(b *testing.B, move func() (int, error)) {
	for n := 0; n < bulkBacklog; {
		k, err := move()
		if err != nil || k == 0 {
			b.Fatalf("after %d jobs: moved %d, %v", n, k, err)
		}
		n += k
	}
}

// BenchmarkGroupPages runs b.N jobs spread over 1,000 groups of
// concurrency 1, added group after group or interleaved, or as many
// jobs in a queue without groups, by leases of 35 and their settles as a
// worker of concurrency 35 would, without fsync. One op is one job; it
// reports the pages written (bbolt's TxStats) per job by leases and by
// settles: a job's cost on the disk, which round robin between groups
// spreads over more pages than a queue without groups touches.
func BenchmarkGroupPages(b *testing.B) {
	const groups, batch = 1000, 35
	for _, order := range []string{"ungrouped", "interleaved", "grouped"} {
		b.Run(order, func(b *testing.B) {
			s := openTest(b, &Options{NoSync: true})
			per := max(b.N/groups, 1)
			var jobs []backend.NewJob
			for i := range groups * per {
				j := backend.NewJob{Name: "n", Data: []byte(`{"n":1}`)}
				switch order {
				case "grouped":
					j.Group = fmt.Sprint("g", i/per)
				case "interleaved":
					j.Group = fmt.Sprint("g", i%groups)
				}
				jobs = append(jobs, j)
			}
			if order != "ungrouped" {
				if err := s.SetGroupLimits(ctx, "q", backend.Limits{Concurrency: 1}); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < len(jobs); i += 1000 {
				if _, err := s.Add(ctx, "q", &backend.AddRequest{Jobs: jobs[i:min(i+1000, len(jobs))]}); err != nil {
					b.Fatal(err)
				}
			}
			var leasePages, settlePages int64
			pages := func() int64 {
				st := s.db.Stats().TxStats
				return st.GetPageCount()
			}
			b.ResetTimer()
			for done := 0; done < len(jobs); {
				p0 := pages()
				res, err := s.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: batch, TTL: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Jobs) == 0 {
					b.Fatalf("nothing leased after %d of %d jobs", done, len(jobs))
				}
				p1 := pages()
				ss := make([]backend.Settlement, len(res.Jobs))
				for i, j := range res.Jobs {
					ss[i] = backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeComplete}
				}
				if _, err := s.Settle(ctx, "q", &backend.SettleRequest{Settlements: ss}); err != nil {
					b.Fatal(err)
				}
				leasePages += p1 - p0
				settlePages += pages() - p1
				done += len(res.Jobs)
			}
			b.StopTimer()
			n := float64(len(jobs))
			b.ReportMetric(float64(leasePages)/n, "lease-pages/job")
			b.ReportMetric(float64(settlePages)/n, "settle-pages/job")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/job")
		})
	}
}
