package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/drovertest"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/metrics"
	"github.com/droverhq/drover/queue"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// eachStore runs fn as a subtest on bbolt, on miniredis and on a real
// redis-server (skipped where there is none, unless DROVER_REQUIRE_REDIS
// is 1), with a fake clock at t0 and the event retention r.
func eachStore(t *testing.T, r backend.EventRetention, fn func(t *testing.T, env *drovertest.Env)) {
	t.Run("bolt", func(t *testing.T) {
		clock := drovertest.NewClock(t0)
		store, err := bolt.Open(filepath.Join(t.TempDir(), "drover.db"), &bolt.Options{Clock: clock, EventRetention: r, Logger: discard(), NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		fn(t, drovertest.New(t, &drovertest.Options{Store: store, Clock: clock}))
	})
	onRedis := func(t *testing.T, client goredis.UniversalClient) {
		clock := drovertest.NewClock(t0)
		store, err := redis.New(client, &redis.Options{Clock: clock, EventRetention: r, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		fn(t, drovertest.New(t, &drovertest.Options{Store: store, Clock: clock}))
	}
	t.Run("miniredis", func(t *testing.T) {
		_, client := redistest.Mini(t)
		onRedis(t, client)
	})
	t.Run("redis", func(t *testing.T) {
		onRedis(t, redistest.Start(t, nil).Client(t, nil))
	})
}

// scrape registers c alone on a pedantic registry, which checks that what
// it collects matches what it describes, gathers once, and returns each
// sample by name and labels, as in `drover_jobs{queue="q",state="waiting"}`.
// A histogram gives its _count and _sum.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(pairs)
			labels := ""
			if len(pairs) > 0 {
				labels = "{" + strings.Join(pairs, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[mf.GetName()+labels] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[mf.GetName()+labels] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[mf.GetName()+"_count"+labels] = float64(m.Histogram.GetSampleCount())
				out[mf.GetName()+"_sum"+labels] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out
}

// check reports each entry of want that got lacks or holds another value
// of; a want of -1 means the sample must be absent.
func check(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := got[k]
		switch {
		case want[k] == -1 && ok:
			t.Errorf("%s = %v; want it absent", k, v)
		case want[k] != -1 && !ok:
			t.Errorf("%s is absent; want %v", k, want[k])
		case want[k] != -1 && v != want[k]:
			t.Errorf("%s = %v; want %v", k, v, want[k])
		}
	}
}

func newCollector(t *testing.T, store backend.Backend, opts *metrics.CollectorOptions) *metrics.Collector {
	t.Helper()
	o := *opts
	if o.Logger == nil {
		o.Logger = discard()
	}
	c, err := metrics.NewCollector(t.Context(), store, &o)
	if err != nil {
		t.Fatalf("NewCollector: %v", err)
	}
	return c
}

func add(t *testing.T, q *queue.Queue, name string, opts *queue.AddOptions) *queue.Job {
	t.Helper()
	j, err := q.Add(t.Context(), name, nil, opts)
	if err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	return j
}

// listing is a store that can list its queues, whatever its own store
// can: names gives the list, or err an error.
type listing struct {
	backend.Full
	names []string
	err   error
}

func (l *listing) Queues(context.Context) ([]string, error) { return l.names, l.err }

// hidden is a store that has only the core and the event log: no
// listing of queues, whatever its own store can.
type hidden struct {
	backend.Backend
	backend.EventLog
}

// failing is a store whose Counts fails.
type failing struct{ backend.Full }

var errDown = errors.New("store down")

func (failing) Counts(context.Context, string) (backend.Counts, error) {
	return backend.Counts{}, errDown
}
