package drovertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/queue"
)

type reminder struct {
	To string `json:"to"`
}

func (reminder) Kind() string { return "reminder" }

type invoice struct {
	Cents int `json:"cents"`
}

func (invoice) Kind() string { return "invoice" }

// fakeT is a test whose Fatalf records the failure and ends the helper
// with a panic that fatalOf recovers.
type fakeT struct {
	*testing.T
	failure string
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	panic(f)
}

// fatalOf runs fn with a fakeT and returns the failure it reported.
func fatalOf(t *testing.T, fn func(tb drovertest.TB)) (failure string) {
	t.Helper()
	f := &fakeT{T: t}
	defer func() {
		if v := recover(); v != nil && v != any(f) {
			panic(v)
		}
		failure = f.failure
	}()
	fn(f)
	return ""
}

// flaky fails the first attempt of each job.
func flaky(ctx context.Context, j *queue.JobOf[reminder]) error {
	if j.AttemptsMade == 0 {
		return errors.New("smtp busy")
	}
	return nil
}

func TestNewStoreIsEmptyAndClosedWhenTheTestEnds(t *testing.T) {
	var q *queue.Queue
	t.Run("inner", func(t *testing.T) {
		var err error
		q, err = queue.New(drovertest.NewStore(t, nil), "q", nil)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := q.Counts(t.Context()); err != nil || c != (queue.Counts{}) {
			t.Errorf("a new store counts %+v, %v; want nothing", c, err)
		}
	})
	if _, err := q.Counts(context.Background()); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Counts after the test = %v, want ErrClosed", err)
	}
}

func TestRunNextMovesTheClockToTheNextDelayedJob(t *testing.T) {
	env := drovertest.New(t, nil)
	start := env.Clock.Now()
	q := env.Queue("mail")
	router, err := queue.NewRouter(queue.Handle(flaky))
	if err != nil {
		t.Fatal(err)
	}
	w := env.Worker("mail", router.Handler(), nil)
	if j := env.RunNext(w); j != nil {
		t.Fatalf("RunNext on an empty queue ran %s", j.ID)
	}
	if _, err := queue.AddArgs(t.Context(), q, reminder{To: "ada"}, &queue.AddOptions{Delay: 24 * time.Hour, Attempts: 2, Backoff: queue.FixedBackoff(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	j := env.RunNext(w)
	if j == nil || j.State != queue.StateDelayed || !env.Clock.Now().Equal(start.Add(24*time.Hour)) {
		t.Fatalf("first run: %+v at +%v; want the job retried, the clock at +24h", j, env.Clock.Now().Sub(start))
	}
	j = env.RunNext(w)
	if j == nil || j.State != queue.StateCompleted || !env.Clock.Now().Equal(start.Add(24*time.Hour+time.Minute)) {
		t.Fatalf("second run: %+v at +%v; want the job completed, the clock one backoff later", j, env.Clock.Now().Sub(start))
	}
	if j := env.RunNext(w); j != nil {
		t.Errorf("a third run ran %s", j.ID)
	}
}

func TestRunForRunsRetriesAndSchedulerIterationsInTimeOrder(t *testing.T) {
	env := drovertest.New(t, nil)
	start := env.Clock.Now()
	q := env.Queue("mail")
	tmpl, err := queue.JobTemplateOf(invoice{Cents: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.UpsertJobScheduler(t.Context(), "billing", queue.Repeat{Every: 10 * time.Minute}, tmpl); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.AddArgs(t.Context(), q, reminder{To: "ada"}, &queue.AddOptions{Delay: 5 * time.Minute, Attempts: 2, Backoff: queue.FixedBackoff(20 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	router, err := queue.NewRouter(queue.Handle(flaky), queue.Handle(func(context.Context, *queue.JobOf[invoice]) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	w := env.Worker("mail", router.Handler(), nil)
	var got []string
	for _, j := range env.RunFor(w, 30*time.Minute) {
		got = append(got, fmt.Sprintf("+%v %s %s", j.ProcessedAt.Sub(start), j.Name, j.State))
	}
	want := []string{
		"+5m0s reminder delayed",
		"+10m0s invoice completed",
		"+20m0s invoice completed",
		"+25m0s reminder completed",
		"+30m0s invoice completed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if now := env.Clock.Now(); !now.Equal(start.Add(30 * time.Minute)) {
		t.Errorf("clock at +%v, want +30m", now.Sub(start))
	}
	if s, err := q.JobScheduler(t.Context(), "billing"); err != nil || !s.Next.Equal(start.Add(40*time.Minute)) {
		t.Errorf("scheduler %+v, %v; want its next run at +40m", s, err)
	}
}

func TestRunReadyRunsWhatIsDueAndLeavesTheClock(t *testing.T) {
	env := drovertest.New(t, nil)
	start := env.Clock.Now()
	q := env.Queue("q")
	for _, d := range []time.Duration{0, 0, time.Hour} {
		if _, err := queue.AddArgs(t.Context(), q, invoice{Cents: int(d)}, &queue.AddOptions{Delay: d}); err != nil {
			t.Fatal(err)
		}
	}
	w := env.Worker("q", func(ctx context.Context, j *queue.Job) ([]byte, error) { return nil, nil }, nil)
	if ran := env.RunReady(w); len(ran) != 2 || !env.Clock.Now().Equal(start) {
		t.Errorf("ran %d jobs, clock at +%v; want the two due ones and the clock unmoved", len(ran), env.Clock.Now().Sub(start))
	}
}

func TestRequireAdded(t *testing.T) {
	env := drovertest.New(t, nil)
	q := env.Queue("mail")
	for _, to := range []string{"ada", "grace"} {
		if _, err := queue.AddArgs(t.Context(), q, reminder{To: to}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if j := drovertest.RequireAdded(t, q, reminder{To: "grace"}); j.Args.To != "grace" || j.ID != "2" {
		t.Errorf("RequireAdded returned job %s with %+v", j.ID, j.Args)
	}
	if jobs := drovertest.Added[reminder](t, q); len(jobs) != 2 || jobs[0].Args.To != "ada" || jobs[1].Args.To != "grace" {
		t.Errorf("Added = %v, want ada's and grace's in order", jobs)
	}
	drovertest.RequireNotAdded[invoice](t, q)

	failure := fatalOf(t, func(tb drovertest.TB) { drovertest.RequireAdded(tb, q, reminder{To: "edsger"}) })
	for _, want := range []string{"no reminder job with arguments {To:edsger}", "job 1 (waiting): {To:ada}", "job 2 (waiting): {To:grace}"} {
		if !strings.Contains(failure, want) {
			t.Errorf("failure %q does not say %q", failure, want)
		}
	}
	failure = fatalOf(t, func(tb drovertest.TB) { drovertest.RequireNotAdded[reminder](tb, q) })
	if !strings.Contains(failure, "holds 2 reminder jobs") {
		t.Errorf("failure %q does not count the jobs", failure)
	}
	if _, err := q.Add(t.Context(), "invoice", []byte("not JSON"), nil); err != nil {
		t.Fatal(err)
	}
	failure = fatalOf(t, func(tb drovertest.TB) { drovertest.Added[invoice](tb, q) })
	if !strings.Contains(failure, "does not decode") {
		t.Errorf("failure %q does not say the data does not decode", failure)
	}
}

func TestWaitEvent(t *testing.T) {
	env := drovertest.New(t, nil)
	q := env.Queue("q")
	job, err := q.Add(t.Context(), "ping", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := env.Worker("q", func(ctx context.Context, j *queue.Job) ([]byte, error) { return []byte("pong"), nil }, nil)
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := drovertest.WaitEvent(t, q, 10*time.Second, func(e queue.Event) bool {
		return e.Type == queue.EventCompleted && e.JobID == job.ID
	})
	if e.Name != "ping" {
		t.Errorf("event %+v", e)
	}
	failure := fatalOf(t, func(tb drovertest.TB) {
		drovertest.WaitEvent(tb, q, 10*time.Millisecond, func(e queue.Event) bool { return e.Type == queue.EventFailed })
	})
	if !strings.Contains(failure, "no matching event in q within 10ms") {
		t.Errorf("failure %q", failure)
	}
}

func TestEnvWithARedisStore(t *testing.T) {
	_, client := redistest.Mini(t)
	clock := drovertest.NewClock(time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC))
	store, err := redis.New(client, &redis.Options{Clock: clock, Prefix: "drovertest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := drovertest.New(t, &drovertest.Options{Store: store, Clock: clock})
	q := env.Queue("mail")
	if _, err := queue.AddArgs(t.Context(), q, reminder{To: "ada"}, &queue.AddOptions{Attempts: 2, Backoff: queue.FixedBackoff(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	router, err := queue.NewRouter(queue.Handle(flaky))
	if err != nil {
		t.Fatal(err)
	}
	ran := env.RunFor(env.Worker("mail", router.Handler(), nil), 2*time.Hour)
	if len(ran) != 2 || ran[1].State != queue.StateCompleted || ran[1].AttemptsMade != 2 {
		t.Errorf("ran %d attempts; want two, the second completing the job", len(ran))
	}
	drovertest.RequireAdded(t, q, reminder{To: "ada"})
	if failure := fatalOf(t, func(tb drovertest.TB) { drovertest.New(tb, &drovertest.Options{Store: store}) }); !strings.Contains(failure, "without the Clock") {
		t.Errorf("a store without its clock: failure %q", failure)
	}
}

func TestClockAwaitTimer(t *testing.T) {
	clock := drovertest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	start := clock.Now()
	armed := make(chan struct{})
	fired := make(chan time.Time, 1)
	go func() {
		timer := clock.NewTimer(time.Minute)
		close(armed)
		fired <- <-timer.C()
	}()
	if err := clock.AwaitTimer(t.Context(), start.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	<-armed
	if w := clock.Waiters(); len(w) != 1 || !w[0].Equal(start.Add(time.Minute)) {
		t.Errorf("Waiters = %v", w)
	}
	clock.Advance(time.Minute)
	if at := <-fired; !at.Equal(start.Add(time.Minute)) {
		t.Errorf("fired at %v", at)
	}
	clock.Set(start) // backwards: no move
	if !clock.Now().Equal(start.Add(time.Minute)) {
		t.Errorf("Set moved the clock back")
	}
}

// BenchmarkNewStore opens (and, at the end, closes) one store per op: what
// a test pays for a store of its own.
func BenchmarkNewStore(b *testing.B) {
	for b.Loop() {
		drovertest.NewStore(b, nil)
	}
}

// BenchmarkRunFor runs one job through a failed attempt, a backoff and a
// second attempt per op.
func BenchmarkRunFor(b *testing.B) {
	env := drovertest.New(b, nil)
	q := env.Queue("mail")
	router, err := queue.NewRouter(queue.Handle(flaky))
	if err != nil {
		b.Fatal(err)
	}
	w := env.Worker("mail", router.Handler(), nil)
	for b.Loop() {
		if _, err := queue.AddArgs(b.Context(), q, reminder{To: "ada"}, &queue.AddOptions{Attempts: 2, Backoff: queue.FixedBackoff(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if ran := env.RunFor(w, time.Hour); len(ran) != 2 {
			b.Fatalf("ran %d attempts", len(ran))
		}
	}
}
