package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// quiet discards the logs of stores, queues and workers.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is one open store of a benchmark.
type env struct {
	kind  string // "bolt" or "redis"
	store backend.Full
	path  string          // bolt: the file
	db    *bbolt.DB       // bolt with storeOptions.appDB: the application's database
	addr  string          // redis: the server's address
	rdb   *goredis.Client // redis: the store's client
}

// storeOptions tunes a store for one benchmark.
type storeOptions struct {
	// keepEvents keeps this many events per queue instead of the default.
	keepEvents int
	// appDB opens a bolt store in a database of the application's
	// (bolt.OpenDB), for adds in its transactions (env.addInTx).
	appDB bool
}

// forStores runs f once for each store, as sub-benchmarks "bolt" and
// "redis". f opens stores with open; it should run its measurements as
// sub-benchmarks of its own, so that one redis-server serves them all.
func forStores(b *testing.B, f func(b *testing.B, open func(tb testing.TB, o *storeOptions) *env)) {
	b.Run("bolt", func(b *testing.B) {
		f(b, func(tb testing.TB, o *storeOptions) *env { return openBolt(tb, o) })
	})
	b.Run("redis", func(b *testing.B) {
		if _, err := exec.LookPath("redis-server"); err != nil {
			b.Skip("redis-server not found on PATH; install it to benchmark the Redis store (Debian: apt-get install redis-server)")
		}
		srv := redistest.Start(b, nil)
		f(b, func(tb testing.TB, o *storeOptions) *env { return openRedis(tb, srv.Addr, true, o) })
	})
}

func openBolt(tb testing.TB, o *storeOptions) *env {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "drover.db")
	opts := &bolt.Options{Logger: quiet}
	if o != nil && o.keepEvents > 0 {
		opts.EventRetention.Count = o.keepEvents
	}
	if o != nil && o.appDB {
		// The options bolt.Open gives bbolt.
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		st, err := bolt.OpenDB(db, opts)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() }) // runs before db.Close
		return &env{kind: "bolt", store: st, path: path, db: db}
	}
	st, err := bolt.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return &env{kind: "bolt", store: st, path: path}
}

// addInTx adds jobs to q in a transaction of the application's own, with
// a write of the application's beside them.
func (e *env) addInTx(ctx context.Context, q *queue.Queue, jobs []queue.BulkJob) error {
	switch st := e.store.(type) {
	case *bolt.Backend:
		if e.db == nil {
			return fmt.Errorf("bolt store opened without storeOptions.appDB")
		}
		return st.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("app"))
			if err != nil {
				return err
			}
			if err := bk.Put([]byte("last"), jobs[0].Data); err != nil {
				return err
			}
			_, err = q.AddBulkTx(ctx, st.InTx(tx), jobs)
			return err
		})
	case *redis.Backend:
		_, err := e.rdb.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
			pipe.Set(ctx, "app:last", jobs[0].Data, 0)
			_, err := q.AddBulkTx(ctx, st.InTx(pipe), jobs)
			return err
		})
		return err
	}
	return fmt.Errorf("no transactions on a %T", e.store)
}

// openRedis opens a store on the server at addr, emptied first if flush
// is set.
func openRedis(tb testing.TB, addr string, flush bool, o *storeOptions) *env {
	tb.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 128, MinIdleConns: 8})
	tb.Cleanup(func() { rdb.Close() })
	if flush {
		if err := rdb.FlushAll(context.Background()).Err(); err != nil {
			tb.Fatal(err)
		}
	}
	opts := &redis.Options{Logger: quiet}
	if o != nil && o.keepEvents > 0 {
		opts.EventRetention.Count = o.keepEvents
	}
	st, err := redis.New(rdb, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if flush && os.Getenv(redisStatsEnv) == "1" {
		logCommandStats(tb, rdb)
	}
	return &env{kind: "redis", store: st, addr: addr, rdb: rdb}
}

// redisStatsEnv, set to 1, logs the server's per-command statistics (calls,
// microseconds per call) and its slowest commands (over 1ms) at the end of
// each Redis benchmark, to see where the server's time goes; run with -v to
// see them.
const redisStatsEnv = "DROVER_BENCH_REDIS_STATS"

// logCommandStats resets the server's statistics now and logs them when tb
// ends, busiest command first.
func logCommandStats(tb testing.TB, rdb *goredis.Client) {
	ctx := context.Background()
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		tb.Fatal(err)
	}
	rdb.ConfigSet(ctx, "slowlog-log-slower-than", "1000")
	rdb.SlowLogReset(ctx)
	tb.Cleanup(func() {
		if slow, err := rdb.SlowLogGet(ctx, 5).Result(); err == nil {
			for _, e := range slow {
				tb.Logf("redis slowlog: %v %q", e.Duration, slowArgs(e.Args))
			}
		}
		info, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			tb.Log(err)
			return
		}
		var lines []string
		for _, l := range strings.Split(info, "\n") {
			if strings.HasPrefix(l, "cmdstat_") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		usec := func(l string) int64 {
			_, v, _ := strings.Cut(l, "usec=")
			v, _, _ = strings.Cut(v, ",")
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
		sort.Slice(lines, func(i, j int) bool { return usec(lines[i]) > usec(lines[j]) })
		tb.Logf("redis commandstats:\n%s", strings.Join(lines, "\n"))
	})
}

// slowArgs shortens a slow command for the log: a script's SHA and its
// arguments without the keys, at most eight of them.
func slowArgs(args []string) []string {
	if len(args) > 2 && strings.HasPrefix(strings.ToLower(args[0]), "eval") {
		if n, err := strconv.Atoi(args[2]); err == nil && 3+n <= len(args) {
			args = append([]string{args[1][:min(8, len(args[1]))]}, args[3+n:]...)
		}
	}
	return args[:min(len(args), 8)]
}

// queue returns a handle on the queue called name.
func (e *env) queue(tb testing.TB, name string) *queue.Queue {
	tb.Helper()
	q, err := queue.New(e.store, name, &queue.Options{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

// usedMemory is the Redis server's INFO memory used_memory.
func (e *env) usedMemory(tb testing.TB) int64 {
	tb.Helper()
	v, err := e.rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	if _, err := fmt.Sscan(v["Memory"]["used_memory"], &n); err != nil {
		tb.Fatalf("INFO memory used_memory: %v", err)
	}
	return n
}

// serverCPU is the CPU time the Redis server has used (INFO cpu), 0 on
// bolt.
func (e *env) serverCPU(tb testing.TB) time.Duration {
	tb.Helper()
	if e.rdb == nil {
		return 0
	}
	v, err := e.rdb.InfoMap(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		var s float64
		if _, err := fmt.Sscan(v["CPU"][k], &s); err != nil {
			tb.Fatalf("INFO cpu %s: %v", k, err)
		}
		total += s
	}
	return time.Duration(total * float64(time.Second))
}

// meterServer starts measuring the Redis server's CPU time; the function
// it returns reports it per unit of n as server-µs/unit. On a shared
// machine this varies less than a rate: time the server was not given
// the CPU does not count.
func (e *env) meterServer(b *testing.B) func(n int, unit string) {
	start := e.serverCPU(b)
	return func(n int, unit string) {
		if e.rdb == nil || n == 0 {
			return
		}
		used := e.serverCPU(b) - start
		b.ReportMetric(float64(used.Microseconds())/float64(n), "server-µs/"+unit)
	}
}

// fileSize is the size of the bbolt file.
func (e *env) fileSize(tb testing.TB) int64 {
	tb.Helper()
	fi, err := os.Stat(e.path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// payload is the data of a benchmark job, a small JSON object.
func payload(i int) []byte { return fmt.Appendf(nil, `{"n":%d}`, i) }

// fill adds n waiting jobs in bulks of 1,000.
func fill(tb testing.TB, q *queue.Queue, n int) {
	tb.Helper()
	ctx := context.Background()
	const chunk = 1000
	jobs := make([]queue.BulkJob, 0, chunk)
	for i := 0; i < n; i += chunk {
		jobs = jobs[:0]
		for j := i; j < min(i+chunk, n); j++ {
			jobs = append(jobs, queue.BulkJob{Name: "noop", Data: payload(j)})
		}
		if _, err := q.AddBulk(ctx, jobs); err != nil {
			tb.Fatal(err)
		}
	}
}

// startWorkers starts n workers of the given concurrency on q's queue,
// each calling h. stop stops them all and waits.
func startWorkers(tb testing.TB, e *env, q *queue.Queue, n, concurrency int, h queue.Handler) (stop func()) {
	return startWorkersOn(tb, e.store, q, n, concurrency, h)
}

// startWorkersOn is startWorkers on store st.
func startWorkersOn(tb testing.TB, st backend.Backend, q *queue.Queue, n, concurrency int, h queue.Handler, mw ...queue.Middleware) (stop func()) {
	tb.Helper()
	ws := make([]*queue.Worker, n)
	for i := range ws {
		w, err := queue.NewWorker(st, q.Name(), h, &queue.WorkerOptions{
			Concurrency: concurrency,
			Logger:      quiet,
			Name:        fmt.Sprintf("bench-%d", i),
			Middleware:  mw,
		})
		if err != nil {
			tb.Fatal(err)
		}
		if err := w.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
		ws[i] = w
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, w := range ws {
			if err := w.Stop(ctx); err != nil {
				tb.Errorf("stop worker: %v", err)
			}
		}
	}
}

// counter counts handler calls and closes done at the nth.
type counter struct {
	n    int64
	seen atomic.Int64
	done chan struct{}
}

func newCounter(n int) *counter { return &counter{n: int64(n), done: make(chan struct{})} }

func (c *counter) handle(context.Context, *queue.Job) ([]byte, error) {
	if c.seen.Add(1) == c.n {
		close(c.done)
	}
	return nil, nil
}

// wait waits for the nth call, failing after timeout.
func (c *counter) wait(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		tb.Fatalf("%d of %d jobs handled after %v", c.seen.Load(), c.n, timeout)
	}
}

// reportRate reports n units of work per second of the benchmark's timer.
func reportRate(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// percentile returns the p-th percentile (0–100) of xs by nearest rank.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	k := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(k, len(s)-1))]
}
