package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// cmdHook runs around in place of each command name whose first argument
// is arg; next runs the command. It passes the other commands through.
type cmdHook struct {
	name, arg string
	around    func(next func() error) error
}

func (h cmdHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h cmdHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (h cmdHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		args := cmd.Args()
		if len(args) < 2 || !strings.EqualFold(fmt.Sprint(args[0]), h.name) || args[1] != h.arg {
			return next(ctx, cmd)
		}
		return h.around(func() error { return next(ctx, cmd) })
	}
}

// gateHook holds every add script call until the gate opens, counting
// the calls and how many were in flight at once.
type gateHook struct {
	gate chan struct{}

	mu       sync.Mutex
	calls    int
	inFlight int
	most     int
}

func (h *gateHook) around(next func() error) error {
	h.mu.Lock()
	h.calls++
	h.inFlight++
	h.most = max(h.most, h.inFlight)
	h.mu.Unlock()
	<-h.gate
	err := next()
	h.mu.Lock()
	h.inFlight--
	h.mu.Unlock()
	return err
}

func (h *gateHook) state() (calls, inFlight int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, h.inFlight
}

// gatedStore returns a store on miniredis whose add script calls wait at
// the hook's gate.
func gatedStore(t *testing.T) (*Backend, *gateHook) {
	_, client := redistest.Mini(t)
	b, err := New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// Load the script first, so that every call the hook sees is one EVALSHA.
	if err := b.scripts.eval["add"].Load(t.Context(), client).Err(); err != nil {
		t.Fatal(err)
	}
	hook := &gateHook{gate: make(chan struct{})}
	client.AddHook(cmdHook{name: "evalsha", arg: b.scripts.eval["add"].Hash(), around: hook.around})
	return b, hook
}

// TestConcurrentAddsShareCalls checks the coalescing of single adds: at
// most maxAddCalls add script calls run at once for a queue, and the Adds
// that arrive meanwhile share the next calls, each getting its own job.
func TestConcurrentAddsShareCalls(t *testing.T) {
	b, hook := gatedStore(t)
	ctx := t.Context()

	const adds = 40
	ids := make([]string, adds)
	errs := make([]error, adds)
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Go(func() {
			res, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Data: fmt.Appendf(nil, "%d", i)}}})
			errs[i] = err
			if err == nil {
				ids[i] = res.Jobs[0].ID
			}
		})
	}
	waiting := func() int {
		v, _ := b.adders.Load("q")
		n := 0
		if aq, ok := v.(*addQueue); ok {
			aq.mu.Lock()
			for _, c := range aq.pending {
				n += len(c.nodes)
			}
			aq.mu.Unlock()
		}
		return n
	}
	await := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				calls, inFlight := hook.state()
				t.Fatalf("waiting for %s: calls %d, in flight %d, Adds waiting %d", what, calls, inFlight, waiting())
			}
		}
	}
	// The first Adds, one at a time, each in a call of its own that the
	// gate holds; then the rest, which wait for the next calls.
	for i := range maxAddCalls {
		start(i)
		await(fmt.Sprintf("call %d held", i+1), func() bool {
			calls, inFlight := hook.state()
			return calls == i+1 && inFlight == i+1
		})
	}
	for i := maxAddCalls; i < adds; i++ {
		start(i)
	}
	await("every other Add waiting", func() bool { return waiting() == adds-maxAddCalls })
	if calls, inFlight := hook.state(); calls != maxAddCalls || inFlight != maxAddCalls {
		t.Fatalf("calls %d, in flight %d while held; want %d", calls, inFlight, maxAddCalls)
	}
	close(hook.gate)
	wg.Wait()

	seen := map[string]bool{}
	for i := range adds {
		if errs[i] != nil {
			t.Fatalf("add %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Fatalf("id %s returned twice", ids[i])
		}
		seen[ids[i]] = true
		j, err := b.Job(ctx, "q", ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if string(j.Data) != fmt.Sprint(i) {
			t.Errorf("job %s has data %q, want %d", ids[i], j.Data, i)
		}
	}
	// The held calls carried one job each; the other Adds shared at most
	// one call per runner.
	if calls, _ := hook.state(); calls > 2*maxAddCalls {
		t.Errorf("%d add calls for %d Adds", calls, adds)
	}
	if hook.most != maxAddCalls {
		t.Errorf("%d add calls in flight at once, want %d", hook.most, maxAddCalls)
	}
}

// TestCancelledAddWhileCoalesced checks the Adds whose context ends while
// they wait to share a call: one whose jobs were not sent yet is left out
// of the call and gets the context's error, and none of its jobs is
// written; one whose jobs were sent waits for the call and reports its
// outcome.
func TestCancelledAddWhileCoalesced(t *testing.T) {
	b, hook := gatedStore(t)
	ctx := t.Context()

	type result struct {
		res backend.AddResult
		err error
	}
	add := func(ctx context.Context, name string) chan result {
		out := make(chan result, 1)
		go func() {
			res, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: name}}})
			out <- result{res, err}
		}()
		return out
	}
	// Two Adds fill the calls in flight, held at the gate, one after the
	// other (started together, they could share one call); the third
	// waits.
	sentCtx, cancelSent := context.WithCancel(ctx)
	sent := add(sentCtx, "sent")
	waitFor(t, "the first held call", func() bool { _, n := hook.state(); return n == 1 })
	held := add(ctx, "held")
	waitFor(t, "the held calls", func() bool { _, n := hook.state(); return n == maxAddCalls })
	waitingCtx, cancelWaiting := context.WithCancel(ctx)
	waiting := add(waitingCtx, "waiting")
	waitFor(t, "the waiting Add", func() bool {
		v, _ := b.adders.Load("q")
		aq := v.(*addQueue)
		aq.mu.Lock()
		defer aq.mu.Unlock()
		return len(aq.pending) == 1
	})

	cancelWaiting()
	if r := <-waiting; !errors.Is(r.err, context.Canceled) || errors.Is(r.err, backend.ErrUnavailable) {
		t.Fatalf("Add cancelled before it was sent: %+v, %v; want context.Canceled", r.res, r.err)
	}
	cancelSent()
	select {
	case r := <-sent:
		t.Fatalf("Add cancelled after it was sent returned before its call: %+v, %v", r.res, r.err)
	default:
	}
	close(hook.gate)
	for name, ch := range map[string]chan result{"sent": sent, "held": held} {
		r := <-ch
		if r.err != nil || len(r.res.Jobs) != 1 {
			t.Fatalf("Add %s: %+v, %v; want its job", name, r.res, r.err)
		}
		if j, err := b.Job(ctx, "q", r.res.Jobs[0].ID); err != nil || j.Name != name {
			t.Fatalf("job of Add %s: %+v, %v", name, j, err)
		}
	}
	if c, err := b.Counts(ctx, "q"); err != nil || c.Waiting != 2 {
		t.Fatalf("counts %+v, %v; want the 2 jobs sent", c, err)
	}
	if calls, _ := hook.state(); calls != maxAddCalls {
		t.Fatalf("%d add calls, want %d: the cancelled Add made none", calls, maxAddCalls)
	}
}
