package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

// stallTTL is the lease TTL of the worker the stall tests kill: short, so
// that its lease expires soon in real time.
const stallTTL = time.Second

// recoverTTL is the lease TTL of the worker that recovers the job: long,
// so that its own lease holds however slowly a loaded machine commits. A
// worker recovers an expired lease whatever its own TTL.
const recoverTTL = 20 * time.Second

// openBolt opens the bbolt file at path, waiting for a killed process's
// lock to go.
func openBolt(t *testing.T, path string) *bolt.Backend {
	t.Helper()
	b, err := bolt.Open(path, &bolt.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deployment starts the Redis deployment of a test and returns the
// address of a server, a store on it with a key prefix of the test's own,
// the prefix, and whether it is a Cluster (whose other nodes the address
// leads to).
type deployment func(t *testing.T) (addr, prefix string, store *redis.Backend, cluster bool)

// startRedis starts a redis-server for the test: a deployment.
func startRedis(t *testing.T) (addr, prefix string, store *redis.Backend, cluster bool) {
	t.Helper()
	srv, prefix, store := startRedisWith(t, nil)
	return srv.Addr, prefix, store, false
}

// serverOf returns a client of the server that holds queue q of store:
// the server at addr, or on a Cluster the master of q's slot.
func serverOf(t *testing.T, addr string, cluster bool, store *redis.Backend, q string) *goredis.Client {
	t.Helper()
	if !cluster {
		c := goredis.NewClient(&goredis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{addr}})
	t.Cleanup(func() { cc.Close() })
	c, err := cc.MasterForKey(context.Background(), store.HashTag(q))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startRedisWith is startRedis with the server's options, and returns the
// server itself.
func startRedisWith(t *testing.T, opts *redistest.Options) (srv *redistest.Server, prefix string, store *redis.Backend) {
	t.Helper()
	srv = redistest.Start(t, opts)
	client := srv.Client(t, &goredis.Options{PoolSize: 16})
	prefix = fmt.Sprintf("e2e-%s", t.Name())
	store, err := redis.New(client, &redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return srv, prefix, store
}

// runLocalWorker runs a worker in the test's own process with handler,
// reporting its lines to lines; it is stopped when the test ends.
func runLocalWorker(t *testing.T, store backend.Backend, a procArgs, lines chan<- line) *queue.Worker {
	t.Helper()
	report := func(format string, args ...any) {
		lines <- line{From: a.Index, Text: fmt.Sprintf(format, args...)}
	}
	w, err := queue.NewWorker(store, a.Queue, handler(&a, report), &queue.WorkerOptions{
		Concurrency: a.Concurrency,
		LeaseTTL:    a.LeaseTTL,
		LeaseWait:   a.LeaseWait,
		Name:        fmt.Sprintf("worker-%d", a.Index),
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stop worker: %v", err)
		}
	})
	return w
}

// jobOf reads one job, failing the test on error.
func jobOf(t *testing.T, store backend.Backend, q, id string) *backend.Job {
	t.Helper()
	j, err := store.Job(context.Background(), q, id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}

// waitState polls until the job is in state.
func waitState(t *testing.T, store backend.Backend, q, id string, state backend.JobState) *backend.Job {
	t.Helper()
	var j *backend.Job
	waitFor(t, fmt.Sprintf("job %s to be %s", id, state), func() bool {
		var err error
		j, err = store.Job(context.Background(), q, id)
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		return j.State == state
	})
	return j
}

// allEvents reads a queue's whole event log.
func allEvents(t *testing.T, store backend.Backend, q string) []backend.Event {
	t.Helper()
	log, ok := store.(backend.EventLog)
	if !ok {
		t.Fatal("store has no event log")
	}
	var evs []backend.Event
	var after uint64
	for {
		r, err := log.Events(context.Background(), q, &backend.EventsRequest{After: after, Max: 1000})
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		if len(r.Events) == 0 {
			return evs
		}
		evs = append(evs, r.Events...)
		after = r.Events[len(r.Events)-1].ID
	}
}

// eventTypes returns the types of the events of job id, in order.
func eventTypes(evs []backend.Event, id string) []backend.EventType {
	var out []backend.EventType
	for _, e := range evs {
		if e.JobID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// checkRecovered checks a job that a killed worker held, and that another
// worker recovered as stalled and completed.
func checkRecovered(t *testing.T, store backend.Backend, q, id string, by int) {
	t.Helper()
	j := jobOf(t, store, q, id)
	want := fmt.Sprintf("done by %d", by)
	if j.State != backend.StateCompleted || j.AttemptsMade != 1 || j.StalledCount != 1 || string(j.Result) != want {
		t.Errorf("job %s: state %s, attempts made %d, stalled %d, result %q; want completed, 1, 1, %q",
			id, j.State, j.AttemptsMade, j.StalledCount, j.Result, want)
	}
	types := eventTypes(allEvents(t, store, q), id)
	if count(types, backend.EventActive) != 2 || count(types, backend.EventStalled) != 1 || count(types, backend.EventCompleted) != 1 {
		t.Errorf("job %s events %v; want two active, one stalled, one completed", id, types)
	}
}

// TestBoltWorkerKilledMidJob kills a worker process with SIGKILL while its
// handler runs; a worker that opens the file next recovers the job as
// stalled once its lease has expired, and completes it.
func TestBoltWorkerKilledMidJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	const q, id = "stall", "job-x"
	b := openBolt(t, path)
	if _, err := b.Add(context.Background(), q, &backend.AddRequest{Jobs: []backend.NewJob{{ID: id, Name: "work"}}}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	lines := make(chan line, 1024)
	p := startProc(t, lines, "worker", procArgs{Index: 1, Path: path, Queue: q, LeaseTTL: stallTTL, LeaseWait: time.Second, Block: "*"})
	expect(t, lines, "ready")
	from, f := expect(t, lines, "start")
	if f[0] != id || f[2] != "0" {
		t.Fatalf("process %d started %v; want %s, not stalled", from, f, id)
	}
	p.kill()

	b = openBolt(t, path)
	defer b.Close()
	if j := jobOf(t, b, q, id); j.State != backend.StateActive || j.Worker != "worker-1" {
		t.Fatalf("after the kill job %s is %s held by %q; want active, held by worker-1", id, j.State, j.Worker)
	}
	local := make(chan line, 1024)
	w := runLocalWorker(t, b, procArgs{Index: 2, Queue: q, LeaseTTL: recoverTTL, LeaseWait: time.Second}, local)
	_, f = expect(t, local, "start")
	if f[0] != id || f[2] != "1" {
		t.Fatalf("the new worker started %v; want %s, stalled once", f, id)
	}
	waitState(t, b, q, id, backend.StateCompleted)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, b, q, id, 2)
}

// TestRedisWorkerKilledMidJob runs two worker processes on one
// redis-server and kills the one that took the job with SIGKILL; the
// other recovers the job as stalled once its lease has expired, and
// completes it.
func TestRedisWorkerKilledMidJob(t *testing.T) { testWorkerKilledMidJob(t, startRedis) }

// testWorkerKilledMidJob runs TestRedisWorkerKilledMidJob on the Redis
// deployment that on starts.
func testWorkerKilledMidJob(t *testing.T, on deployment) {
	addr, prefix, store, cluster := on(t)
	const q, id = "stall", "job-x"
	lines := make(chan line, 1024)
	args := procArgs{Index: 1, Addr: addr, Cluster: cluster, Prefix: prefix, Queue: q, LeaseTTL: stallTTL, LeaseWait: time.Second, Block: "*"}
	victim := startProc(t, lines, "worker", args)
	expect(t, lines, "ready")
	if _, err := store.Add(context.Background(), q, &backend.AddRequest{Jobs: []backend.NewJob{{ID: id, Name: "work"}}}); err != nil {
		t.Fatal(err)
	}
	if from, f := expect(t, lines, "start"); from != 1 || f[0] != id || f[2] != "0" {
		t.Fatalf("process %d started %v; want process 1 to start %s, not stalled", from, f, id)
	}
	// The survivor runs before the kill, so that it is a worker already
	// waiting that finds the expired lease.
	args.Index, args.LeaseTTL = 2, recoverTTL
	survivor := startProc(t, lines, "worker", args)
	expect(t, lines, "ready")
	victim.kill()

	from, f := expect(t, lines, "start")
	if from != 2 || f[0] != id || f[2] != "1" {
		t.Fatalf("process %d started %v; want process 2 to start %s, stalled once", from, f, id)
	}
	if from, f = expect(t, lines, "end"); from != 2 || f[0] != id {
		t.Fatalf("process %d ended %v", from, f)
	}
	waitState(t, store, q, id, backend.StateCompleted)
	survivor.stop()
	checkRecovered(t, store, q, id, 2)
}
