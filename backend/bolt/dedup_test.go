package bolt

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// dedupEntries counts the entries of queue's key bucket: keys, and
// entries of the sweep index.
func dedupEntries(t *testing.T, b *Backend, queue string) (keys, index int) {
	t.Helper()
	err := b.db.View(func(tx *bbolt.Tx) error {
		d := tx.Bucket(queueBucketName(queue)).Bucket(bucketDedup)
		if d == nil {
			return nil
		}
		return d.ForEach(func(k, _ []byte) error {
			if k[0] == 0 {
				index++
			} else {
				keys++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys, index
}

func TestThrottleKeysWhoseTTLRanOutAreSwept(t *testing.T) {
	b, clock := setup(t)
	ctx := t.Context()
	add := func(key string, ttl time.Duration) backend.Added {
		t.Helper()
		mode := backend.DedupThrottle
		if ttl == 0 {
			mode = ""
		}
		res, err := b.Add(ctx, "q", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "n", Dedup: backend.Dedup{Key: key, Mode: mode, TTL: ttl}}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs[0]
	}
	for i := range 20 {
		add(fmt.Sprintf("user-%d", i), time.Second)
	}
	add("long", time.Hour)
	add("no-ttl", 0)
	if keys, index := dedupEntries(t, b, "q"); keys != 22 || index != 21 {
		t.Fatalf("before: %d keys, %d index entries; want 22 and 21", keys, index)
	}
	// Within the TTL a throttle key holds, and sweeping leaves it be.
	clock.Advance(500 * time.Millisecond)
	if a := add("other", time.Second); a.Duplicate {
		t.Fatal("a new key was a duplicate")
	}
	if a := add("user-3", time.Second); !a.Duplicate {
		t.Fatal("a throttle key within its TTL did not hold")
	}
	if keys, _ := dedupEntries(t, b, "q"); keys != 23 {
		t.Fatalf("within the TTL: %d keys, want 23", keys)
	}
	// Past it, each add that takes a key sweeps up to sweepMax of them.
	clock.Advance(2 * time.Second)
	for i := range 3 {
		add(fmt.Sprintf("late-%d", i), 0)
	}
	keys, index := dedupEntries(t, b, "q")
	if keys != 5 || index != 1 {
		t.Fatalf("after the sweeps: %d keys, %d index entries; want 5 (long, no-ttl, late-0..2) and 1 (long)", keys, index)
	}
	if h, err := b.DedupHolder(ctx, "q", "long"); err != nil || h.JobID == "" {
		t.Fatalf("DedupHolder(long) = %+v, %v: the sweep took a key that holds", h, err)
	}
	// A key taken again after its TTL ran out is swept by its new time.
	if a := add("user-3", time.Second); a.Duplicate {
		t.Fatal("a throttle key past its TTL still held")
	}
	if _, index := dedupEntries(t, b, "q"); index != 2 {
		t.Fatalf("index entries %d, want 2", index)
	}
}
