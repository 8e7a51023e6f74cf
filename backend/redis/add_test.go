package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// gateHook holds every add script call until the gate opens, counting
// the calls and how many were in flight at once.
type gateHook struct {
	sha  string
	gate chan struct{}

	mu       sync.Mutex
	calls    int
	inFlight int
	most     int
}

func (h *gateHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *gateHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (h *gateHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		args := cmd.Args()
		if len(args) < 2 || !strings.EqualFold(fmt.Sprint(args[0]), "evalsha") || args[1] != h.sha {
			return next(ctx, cmd)
		}
		h.mu.Lock()
		h.calls++
		h.inFlight++
		h.most = max(h.most, h.inFlight)
		h.mu.Unlock()
		<-h.gate
		err := next(ctx, cmd)
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
		return err
	}
}

func (h *gateHook) state() (calls, inFlight int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, h.inFlight
}

// TestConcurrentAddsShareCalls checks the coalescing of single adds: at
// most maxAddCalls add script calls run at once for a queue, and the Adds
// that arrive meanwhile share the next calls, each getting its own job.
func TestConcurrentAddsShareCalls(t *testing.T) {
	_, client := redistest.Mini(t)
	b, err := New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	// Load the script first, so that every call the hook sees is one EVALSHA.
	if err := b.scripts.eval["add"].Load(ctx, client).Err(); err != nil {
		t.Fatal(err)
	}
	hook := &gateHook{sha: b.scripts.eval["add"].Hash(), gate: make(chan struct{})}
	client.AddHook(hook)

	const adds = 40
	ids := make([]string, adds)
	errs := make([]error, adds)
	var wg sync.WaitGroup
	for i := range adds {
		wg.Go(func() {
			res, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Data: fmt.Appendf(nil, "%d", i)}}})
			errs[i] = err
			if err == nil {
				ids[i] = res.Jobs[0].ID
			}
		})
	}
	// Every Add is either in a held call or waiting for the next one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, inFlight := hook.state()
		v, _ := b.adders.Load("q")
		waiting := 0
		if aq, ok := v.(*addQueue); ok {
			aq.mu.Lock()
			for _, c := range aq.pending {
				waiting += len(c.nodes)
			}
			aq.mu.Unlock()
		}
		if calls == maxAddCalls && inFlight == maxAddCalls && waiting == adds-maxAddCalls {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls %d, in flight %d, Adds waiting %d", calls, inFlight, waiting)
		}
		time.Sleep(time.Millisecond)
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
