package redis

import (
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

func TestWaitReplicasOptions(t *testing.T) {
	_, c := redistest.Mini(t)
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { ring.Close() })
	slow := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", ReadTimeout: time.Second})
	t.Cleanup(func() { slow.Close() })
	for _, tc := range []struct {
		name   string
		client goredis.UniversalClient
		opts   Options
		field  string
	}{
		{"negative replicas", c, Options{WaitReplicas: -1}, "WaitReplicas"},
		{"negative timeout", c, Options{WaitReplicas: 1, WaitTimeout: -time.Second}, "WaitTimeout"},
		{"a ring", ring, Options{WaitReplicas: 1}, "WaitReplicas"},
		{"a timeout as long as the read timeout", slow, Options{WaitReplicas: 1}, "WaitTimeout"},
	} {
		var v *backend.ValidationError
		if _, err := New(tc.client, &tc.opts); !errors.As(err, &v) || v.Field != tc.field {
			t.Errorf("%s: New = %v, want a validation error of %s", tc.name, err, tc.field)
		}
	}
	// A ring without waiting is fine, as is a client whose read timeout
	// is longer than the wait.
	if _, err := New(ring, nil); err != nil {
		t.Errorf("New of a ring: %v", err)
	}
	if _, err := New(slow, &Options{WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond}); err != nil {
		t.Errorf("New with a shorter wait: %v", err)
	}
}

// TestWaitReplicas: with WaitReplicas 1 behind Sentinel, writes return
// once the replica has them; with the replica gone, a write returns
// ErrNotDurable (and ErrUnavailable), though the master applied it, and
// a lease, which does not wait, still works.
func TestWaitReplicas(t *testing.T) {
	st := redistest.StartSentinel(t, nil)
	client := st.Client(t, &goredis.FailoverOptions{PoolSize: 16})
	b, err := New(client, &Options{Prefix: "wait", WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	add := func(id string) error {
		_, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{ID: id, Name: "n"}}})
		return err
	}
	if err := add("a"); err != nil {
		t.Fatalf("Add with a replica: %v", err)
	}
	l, err := b.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute})
	if err != nil || len(l.Jobs) != 1 {
		t.Fatalf("Lease: %+v, %v", l, err)
	}
	if _, err := b.Settle(ctx, "q", &backend.SettleRequest{Settlements: []backend.Settlement{complete(l.Jobs[0], "ok")}}); err != nil {
		t.Fatalf("Settle with a replica: %v", err)
	}

	st.Servers[1].Kill()
	err = add("b")
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Add without a replica = %v, want ErrNotDurable and ErrUnavailable", err)
	}
	t.Logf("Add without a replica: %v", err)
	if j, err := b.Job(ctx, "q", "b"); err != nil || j.State != backend.StateWaiting {
		t.Fatalf("the master has job b: %+v, %v", j, err)
	}
	if l, err = b.Lease(ctx, "q", &backend.LeaseRequest{Worker: "w", Max: 1, TTL: time.Minute}); err != nil || len(l.Jobs) != 1 {
		t.Fatalf("Lease without a replica: %+v, %v", l, err)
	}
	if _, err := b.Settle(ctx, "q", &backend.SettleRequest{Settlements: []backend.Settlement{complete(l.Jobs[0], "ok")}}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Settle without a replica = %v, want ErrNotDurable", err)
	}
}
