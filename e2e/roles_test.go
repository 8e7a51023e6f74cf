package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/queue"
)

// schedulerID is the job scheduler the upsert processes write.
const schedulerID = "report"

// schedulerRepeat is the rule every upsert writes, so that each keeps the
// cadence and only the template changes.
var schedulerRepeat = queue.Repeat{Every: time.Hour}

// sayMu serialises the lines a child reports to its parent.
var sayMu sync.Mutex

func say(format string, args ...any) {
	sayMu.Lock()
	defer sayMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// runRole runs a child process's role and returns its exit code.
func runRole(role string, a *procArgs) int {
	ctx := context.Background()
	store, closeStore, err := openStore(a)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open store:", err)
		return 1
	}
	defer closeStore()
	switch role {
	case "worker":
		err = runWorker(ctx, store, a)
	case "producer":
		err = runProducer(ctx, store, a)
	case "upsert":
		err = runUpsert(ctx, store, a)
	case "events":
		err = runEvents(ctx, store, a)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	return 0
}

// openStore opens the bbolt file a.Path, or the Redis store at a.Addr
// (a Cluster if a.Cluster).
func openStore(a *procArgs) (backend.Backend, func(), error) {
	if a.Path != "" {
		b, err := bolt.Open(a.Path, &bolt.Options{LockTimeout: 10 * time.Second})
		if err != nil {
			return nil, nil, err
		}
		return b, func() { b.Close() }, nil
	}
	var client goredis.UniversalClient = goredis.NewClient(&goredis.Options{Addr: a.Addr, PoolSize: 16})
	if a.Cluster {
		client = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{a.Addr}, PoolSize: 16})
	}
	b, err := redis.New(client, &redis.Options{Prefix: a.Prefix})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return b, func() { b.Close(); client.Close() }, nil
}

// handler is the job handler of worker processes, and of the workers the
// tests run themselves. It prints "start <job> <worker> <stalled> <unix
// nanos>" as it starts and "end <job> <worker> <unix nanos>" as it ends,
// and returns "done by <worker>".
func handler(a *procArgs, report func(format string, args ...any)) queue.Handler {
	return func(ctx context.Context, job *queue.Job) ([]byte, error) {
		report("start %s %d %d %d", job.ID, a.Index, job.StalledCount, time.Now().UnixNano())
		if job.StalledCount == 0 && (a.Block == "*" || a.Block == job.Name) {
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
		if d := a.Sleep + randDuration(a.SleepRandom); d > 0 {
			time.Sleep(d) // the job's work
		}
		if a.Barrier != "" {
			round, _, _ := strings.Cut(job.ID, "-")
			waitFile(filepath.Join(a.Barrier, round), time.Minute)
		}
		if a.Flaky != "" && job.Name == a.Flaky && job.AttemptsMade == 0 {
			report("end %s %d %d", job.ID, a.Index, time.Now().UnixNano())
			return nil, fmt.Errorf("first attempt of %s fails", job.ID)
		}
		report("end %s %d %d", job.ID, a.Index, time.Now().UnixNano())
		return []byte("done by " + strconv.Itoa(a.Index)), nil
	}
}

// waitFile waits until path exists, for up to limit.
func waitFile(path string, limit time.Duration) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func randDuration(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// runWorker runs a worker with handler until its standard input ends.
func runWorker(ctx context.Context, store backend.Backend, a *procArgs) error {
	w, err := queue.NewWorker(store, a.Queue, handler(a, say), &queue.WorkerOptions{
		Concurrency: a.Concurrency,
		LeaseTTL:    a.LeaseTTL,
		LeaseWait:   a.LeaseWait,
		MaxStalled:  a.MaxStalled,
		Name:        "worker-" + strconv.Itoa(a.Index),
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return err
	}
	say("ready")
	if err := w.Start(ctx); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return w.Stop(ctx)
}

// runProducer adds jobs until its standard input ends, one job per call
// and bulks of 2 to 5 in turn, pausing a.Sleep after each call. The data
// of each job is a token that names its call and its place in it,
// "p<index>-<call>-<k>"; every third call also uses the tokens as the
// jobs' IDs. For each job of a call that returned without error it prints
// "ack <job> <token> <unix nanos>", with " dup" at the end if the store
// called the job a duplicate; for a call that failed it prints "nack
// <call>", logs the error and backs off. A failed call is not repeated.
// It ends with "stopped <calls> <failed calls>".
func runProducer(ctx context.Context, store backend.Backend, a *procArgs) error {
	q, err := queue.New(store, a.Queue, nil)
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	// pause waits d, or until the producer is asked to stop.
	pause := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-stop:
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	say("ready")
	calls, failed, failures := 0, 0, 0
	for {
		select {
		case <-stop:
			say("stopped %d %d", calls, failed)
			return nil
		default:
		}
		call := calls
		calls++
		size := 1
		if call%2 == 1 {
			size = 2 + call/2%4
		}
		bulk := make([]queue.BulkJob, size)
		tokens := make([]string, size)
		for k := range bulk {
			tokens[k] = fmt.Sprintf("p%d-%d-%d", a.Index, call, k)
			bulk[k] = queue.BulkJob{Name: "work", Data: []byte(tokens[k])}
			if call%3 == 2 {
				bulk[k].Options = &queue.AddOptions{ID: tokens[k]}
			}
		}
		jobs, err := q.AddBulk(ctx, bulk)
		if err != nil {
			failed++
			failures++
			wait := min(20*time.Millisecond<<min(failures, 6), time.Second)
			log.Warn("add failed; backing off", "call", call, "retry_in", wait, "err", err)
			say("nack %d", call)
			pause(wait)
			continue
		}
		failures = 0
		now := time.Now().UnixNano()
		for k, j := range jobs {
			dup := ""
			if j.Duplicate {
				dup = " dup"
			}
			say("ack %s %s %d%s", j.ID, tokens[k], now, dup)
		}
		pause(a.Sleep)
	}
}

// runUpsert upserts the scheduler each time a line "go <round>" comes on
// standard input, with data "p<index>-r<round>", and prints "done <round>
// <revision> <data>".
func runUpsert(ctx context.Context, store backend.Backend, a *procArgs) error {
	q, err := queue.New(store, a.Queue, nil)
	if err != nil {
		return err
	}
	say("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		round, ok := strings.CutPrefix(sc.Text(), "go ")
		if !ok {
			return fmt.Errorf("unexpected input %q", sc.Text())
		}
		data := fmt.Sprintf("p%d-r%s", a.Index, round)
		js, err := q.UpsertJobScheduler(ctx, schedulerID, schedulerRepeat, queue.JobTemplate{Name: "report", Data: []byte(data)})
		if err != nil {
			return err
		}
		say("done %s %d %s", round, js.Revision, data)
	}
	return sc.Err()
}

// runEvents reads the queue's events, from the start or after a.After,
// and prints "ev <id> <type> <job>" for each, until it has read a.Count
// events or the event a.Until; then it prints "cursor <id>". With neither
// set, it stops after the event that a line "until <id>" on standard input
// names.
func runEvents(ctx context.Context, store backend.Backend, a *procArgs) error {
	q, err := queue.New(store, a.Queue, nil)
	if err != nil {
		return err
	}
	from := queue.FromStart()
	if a.After > 0 {
		from = queue.FromID(a.After)
	}
	sub, err := q.Subscribe(ctx, from, &queue.SubscribeOptions{Batch: 100, Wait: time.Second})
	if err != nil {
		return err
	}
	defer sub.Close()
	var until atomic.Uint64
	until.Store(a.Until)
	if a.Count == 0 && a.Until == 0 {
		until.Store(math.MaxUint64)
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				if s, ok := strings.CutPrefix(sc.Text(), "until "); ok {
					if n, err := strconv.ParseUint(s, 10, 64); err == nil {
						until.Store(n)
					}
				}
			}
		}()
	}
	say("ready")
	for n := 0; (a.Count == 0 || n < a.Count) && (until.Load() == 0 || sub.Cursor() < until.Load()); n++ {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		e, err := sub.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			n-- // nothing new yet: look at until again
			continue
		}
		if err != nil {
			return err
		}
		say("ev %d %s %s", e.ID, e.Type, e.JobID)
	}
	say("cursor %d", sub.Cursor())
	return nil
}
