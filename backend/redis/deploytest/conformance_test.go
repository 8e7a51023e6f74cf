package deploytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/conformance"
	"github.com/droverhq/drover/internal/redistest"
)

var prefixSeq atomic.Int64

// stores makes stores on one client, each under a prefix of its own, and
// remembers which prefix each store has.
type stores struct {
	client goredis.UniversalClient
	base   redis.Options

	mu       sync.Mutex
	prefixes map[backend.Full]string
}

func newStores(client goredis.UniversalClient, base redis.Options) *stores {
	return &stores{client: client, base: base, prefixes: map[backend.Full]string{}}
}

func (s *stores) factory(t testing.TB, o conformance.Options) backend.Full {
	opts := s.base
	opts.Prefix = fmt.Sprintf("c%d", prefixSeq.Add(1))
	opts.Clock, opts.MaxPayload, opts.EventRetention = o.Clock, o.MaxPayload, o.EventRetention
	b := open(t, s.client, &opts)
	s.mu.Lock()
	s.prefixes[b] = opts.Prefix
	s.mu.Unlock()
	return b
}

func (s *stores) prefix(store backend.Full) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefixes[store]
}

// appKey is the application's key of the conformance suite's
// transactions: in the slot of the suite's queues, all of which share the
// store's one slot tag.
func (s *stores) appKey(store backend.Full, key string) string {
	return "app:" + store.(*redis.Backend).HashTag("any") + ":" + key
}

// appTx runs the application's transactions of the conformance suite as
// MULTI/EXEC on the stores' client.
func (s *stores) appTx() *conformance.AppTx {
	return &conformance.AppTx{
		Run: func(ctx context.Context, store backend.Full, key, value string, fn func(backend.Tx) error) error {
			b := store.(*redis.Backend)
			_, err := s.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
				pipe.Set(ctx, s.appKey(store, key), value, 0)
				return fn(b.InTx(pipe))
			})
			return err
		},
		AppValue: func(ctx context.Context, store backend.Full, key string) (string, error) {
			v, err := s.client.Get(ctx, s.appKey(store, key)).Result()
			if errors.Is(err, goredis.Nil) {
				return "", nil
			}
			return v, err
		},
	}
}

// eachMaster runs fn on every master: all of a Cluster's, or the one
// server of another client.
func eachMaster(ctx context.Context, c goredis.UniversalClient, fn func(ctx context.Context, c goredis.Cmdable) error) error {
	if cc, ok := c.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, c)
}

// keysOf returns every key of a prefix, sorted, from every master.
func keysOf(ctx context.Context, c goredis.UniversalClient, prefix string) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	err := eachMaster(ctx, c, func(ctx context.Context, c goredis.Cmdable) error {
		iter := c.Scan(ctx, 0, "{"+prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	})
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// digest hashes every key of the store's prefix with its type, value
// and whether it expires. DUMP gives a value in one command whatever its
// type (and the same bytes for the same value on one server version).
func (s *stores) digest(store backend.Full) (string, error) {
	ctx := context.Background()
	keys, err := keysOf(ctx, s.client, s.prefix(store))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, k := range keys {
		typ, err := s.client.Type(ctx, k).Result()
		if err != nil {
			return "", err
		}
		var v any
		if typ == "hash" {
			// A hash's DUMP follows its encoding, which a rewrite of
			// the same fields may change; compare the fields.
			m, err := s.client.HGetAll(ctx, k).Result()
			if err != nil {
				return "", err
			}
			fields := make([]string, 0, len(m))
			for f, x := range m {
				fields = append(fields, f+"\x00"+x)
			}
			slices.Sort(fields)
			v = fields
		} else if v, err = s.client.Dump(ctx, k).Result(); err != nil {
			return "", err
		}
		ttl, err := s.client.PTTL(ctx, k).Result()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%q %s %v expires:%v\n", k, typ, v, ttl > 0)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// oneSlot places every queue of a store under one slot tag, so that the
// suite's flows across queues run on Cluster; each store has a prefix of
// its own, so the stores' slots spread over the masters.
func oneSlot(string) string { return "q" }

// TestConformanceCluster runs the conformance suite on a Cluster of three
// masters with a replica each, every store's queues in one slot, and
// checks that the stores' keys landed on every master.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, nil)
	client := c.Client(t, &goredis.ClusterOptions{PoolSize: 64, ReadTimeout: time.Minute})
	s := newStores(client, redis.Options{SlotTag: oneSlot})
	t.Cleanup(func() {
		// After every case: the keys of the suite's stores are on every
		// master, so it ran on all of them.
		var mu sync.Mutex
		counts := map[string]int{}
		err := client.ForEachMaster(context.Background(), func(ctx context.Context, m *goredis.Client) error {
			n := 0
			iter := m.Scan(ctx, 0, "{c*", 1000).Iterator()
			for iter.Next(ctx) {
				n++
			}
			mu.Lock()
			counts[m.Options().Addr] = n
			mu.Unlock()
			return iter.Err()
		})
		if err != nil {
			t.Errorf("counting keys: %v", err)
		}
		spread := 0
		for _, n := range counts {
			if n > 0 {
				spread++
			}
		}
		t.Logf("keys of the suite's stores per master: %v", counts)
		if spread < 3 {
			t.Errorf("the suite's keys are on %d masters (%v), want every one of 3", spread, counts)
		}
	})
	conformance.RunWith(t, s.factory, small(s))
}

// small is the suite's configuration here: every case, the heavy ones at
// a tenth of their size (Config.Emulated). backend/redis runs them at full
// size on a single server with the same scripts; what differs on Cluster
// and behind Sentinel is how calls reach the master, which every case
// exercises, and the full-size cases would double this package's time.
func small(s *stores) conformance.Config {
	return conformance.Config{Emulated: true, Digest: s.digest, Tx: s.appTx()}
}

// TestConformanceSentinel runs the conformance suite through a failover
// client of a master, its replica and three sentinels.
func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	st := redistest.StartSentinel(t, nil)
	client := st.Client(t, &goredis.FailoverOptions{PoolSize: 64, ReadTimeout: time.Minute})
	s := newStores(client, redis.Options{})
	conformance.RunWith(t, s.factory, small(s))
}
