package redistest

import (
	"context"
	"strings"
	"testing"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t, &Options{AppendOnly: true})
	c := s.Client(t, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("after restart: %q, %v; want v", got, err)
	}
}

func TestMini(t *testing.T) {
	_, c := Mini(t)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestCluster(t *testing.T) {
	s := Start(t, &Options{Cluster: true})
	c := s.ClusterClient(t, nil)
	ctx := context.Background()
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Keys of two slots in one command are refused.
	if err := s.Client(t, nil).MGet(ctx, "a", "b").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MGET across slots: %v, want CROSSSLOT", err)
	}
	// A restarted server serves every slot again.
	s.Restart()
	if err := c.Set(ctx, "a", "2", 0).Err(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
