package redis

import (
	"slices"
	"testing"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/redistest"
)

// TestQueuesOnCluster lists the queues through a Cluster client, which
// scans every master, and checks that a prefix with glob characters
// matches only its own keys.
func TestQueuesOnCluster(t *testing.T) {
	s := redistest.Start(t, &redistest.Options{Cluster: true})
	c := s.ClusterClient(t, nil)
	open := func(prefix string) *Backend {
		b, err := New(c, &Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	star, plain := open("p*"), open("pq")
	for _, q := range []string{"b", "a:1", "c"} {
		if _, err := star.Add(t.Context(), q, &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.SetPaused(t.Context(), "other", true); err != nil {
		t.Fatal(err)
	}
	if got, err := star.Queues(t.Context()); err != nil || !slices.Equal(got, []string{"a:1", "b", "c"}) {
		t.Errorf("Queues of prefix p* = %v, %v", got, err)
	}
	if got, err := plain.Queues(t.Context()); err != nil || !slices.Equal(got, []string{"other"}) {
		t.Errorf("Queues of prefix pq = %v, %v", got, err)
	}
}
