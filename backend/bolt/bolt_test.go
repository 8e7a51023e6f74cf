package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/conformance"
	"github.com/droverhq/drover/internal/fakeclock"
	"go.etcd.io/bbolt"
)

func TestConformance(t *testing.T) {
	conformance.RunWith(t, func(t testing.TB, o conformance.Options) backend.Full {
		return openTest(t, &Options{Clock: o.Clock, MaxPayload: o.MaxPayload, EventRetention: o.EventRetention})
	}, conformance.Config{Digest: digest, Tx: appTx})
}

// appTx runs the application's transactions of the conformance suite in
// the store's own database, as an application that opened it with OpenDB
// would, through db.Update.
var appTx = &conformance.AppTx{
	Run: func(ctx context.Context, store backend.Full, key, value string, fn func(backend.Tx) error) error {
		b := store.(*Backend)
		return b.db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("app"))
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(key), []byte(value)); err != nil {
				return err
			}
			return fn(b.InTx(tx))
		})
	},
	AppValue: func(ctx context.Context, store backend.Full, key string) (v string, err error) {
		err = store.(*Backend).db.View(func(tx *bbolt.Tx) error {
			if bk := tx.Bucket([]byte("app")); bk != nil {
				v = string(bk.Get([]byte(key)))
			}
			return nil
		})
		return v, err
	},
}

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// openTest opens a fresh store in a temporary directory, and checks its
// invariants and closes it when the test ends.
func openTest(t testing.TB, o *Options) *Backend {
	t.Helper()
	b, err := Open(filepath.Join(t.TempDir(), "drover.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !b.isClosed() {
			checkInvariants(t, b)
		}
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

// setup opens a store on a fake clock.
func setup(t testing.TB) (*Backend, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(epoch)
	return openTest(t, &Options{Clock: clock}), clock
}

// checkInvariants checks every queue of the store: each job is in exactly
// the index of its state under the right key, the counts match the
// indexes, leases are held only by active jobs, and flow links agree.
func checkInvariants(t testing.TB, b *Backend) {
	t.Helper()
	err := b.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			queue, ok := bytes.CutPrefix(name, queuePrefix)
			if !ok {
				return nil // the application's (OpenDB)
			}
			q := readQueue(tx, string(queue))
			jobs, depKeys, placed := 0, 0, 0
			err := q.jobs.ForEach(func(k, v []byte) error {
				jobs++
				j, err := decodeJob(v)
				if err != nil {
					return fmt.Errorf("job %q: %w", k, err)
				}
				if k[0] == placeTag {
					placed++
				}
				if rk := q.recordKey(j.ID, nil); !bytes.Equal(rk, k) {
					return fmt.Errorf("job %s/%s: record under %q, its key is %q", queue, j.ID, k, rk)
				}
				s := stateNum(j.State)
				if got := q.idx[s].Get(indexKey(j, nil)); string(got) != j.ID {
					return fmt.Errorf("job %s/%s (%s) not in its index (found %q)", queue, j.ID, j.State, got)
				}
				if (j.Lease.Token != "") != (j.State == backend.StateActive) {
					return fmt.Errorf("job %s/%s in %s has lease %q", queue, j.ID, j.State, j.Lease.Token)
				}
				n, err := checkFlow(tx, q, jobKey(j.ID, nil), j)
				depKeys += n
				return err
			})
			if err != nil {
				return err
			}
			if err := checkMeta(q); err != nil {
				return err
			}
			if err := checkPlaces(q, placed); err != nil {
				return err
			}
			if n := q.deps.Stats().KeyN; n != depKeys {
				return fmt.Errorf("queue %s: deps bucket has %d keys, its jobs own %d", queue, n, depKeys)
			}
			total := int64(0)
			for s := range numStates {
				n := int64(q.idx[s].Stats().KeyN)
				if s == stWaiting {
					stale, err := staleEntries(q)
					if err != nil {
						return err
					}
					n -= stale
				}
				if n != q.m.counts[s] {
					return fmt.Errorf("queue %s: %s index has %d keys, count says %d", queue, stateNames[s], n, q.m.counts[s])
				}
				total += n
			}
			if total != int64(jobs) {
				return fmt.Errorf("queue %s: %d jobs, %d index entries", queue, jobs, total)
			}
			next := uint64(0)
			err = q.events.ForEach(func(k, v []byte) error {
				base := binary.BigEndian.Uint64(k)
				n, err := segmentLen(v)
				if err != nil || n == 0 {
					return fmt.Errorf("queue %s: event segment %d: %d events, %v", queue, base, n, err)
				}
				if next != 0 && base != next {
					return fmt.Errorf("queue %s: event segment %d follows one that ends before %d", queue, base, next)
				}
				next = base + uint64(n)
				return nil
			})
			if err != nil {
				return err
			}
			if next != 0 && next-1 != q.m.lastEvent {
				return fmt.Errorf("queue %s: last event %d, meta says %d", queue, next-1, q.m.lastEvent)
			}
			return checkLines(q)
		})
	})
	if err != nil {
		t.Errorf("invariant: %v", err)
	}
}

// checkMeta checks that every entry of the metadata bucket belongs to a
// job of the queue and decodes to metadata.
func checkMeta(q *qtx) error {
	b, _ := q.metaBucket(false)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		rec := q.getJob(q.recordKey(keyID(k), nil))
		if rec == nil {
			return fmt.Errorf("queue %s: metadata of job key %q, which has no record", q.name, k)
		}
		j, err := decodeJob(rec)
		if err != nil {
			return err
		}
		if err := q.loadMeta(j); err != nil || len(j.Meta) == 0 {
			return fmt.Errorf("queue %s: metadata of job %s: %q, %v", q.name, j.ID, j.Meta, err)
		}
		return nil
	})
}

// checkPlaces checks that the places bucket names as many records as lie
// at places, each the record of its job, and that a queue with places
// says so in its meta record.
func checkPlaces(q *qtx, placed int) error {
	b := q.root.Bucket(bucketPlaces)
	if b == nil {
		if placed > 0 || q.m.places {
			return fmt.Errorf("queue %s: %d records at places, places flag %v, no places bucket", q.name, placed, q.m.places)
		}
		return nil
	}
	if !q.m.places {
		return fmt.Errorf("queue %s has places but its meta record does not say so", q.name)
	}
	n := 0
	err := b.ForEach(func(jk, pk []byte) error {
		n++
		v := q.jobs.Get(pk)
		if len(pk) == 0 || pk[0] != placeTag || v == nil {
			return fmt.Errorf("queue %s: job key %q placed at %q, which holds no record", q.name, jk, pk)
		}
		j, err := decodeJob(v)
		if err != nil {
			return err
		}
		if !bytes.Equal(jobKey(j.ID, nil), jk) {
			return fmt.Errorf("queue %s: job key %q placed at the record of job %s", q.name, jk, j.ID)
		}
		return nil
	})
	if err == nil && n != placed {
		err = fmt.Errorf("queue %s: %d places for %d records at places", q.name, n, placed)
	}
	return err
}

// staleEntries counts the stale entries of the waiting index, and checks
// that each is the one stale entry its job may have: the job exists, does
// not wait, and has the entry's key as its waiting key. The queue is
// grouped, and checkLines checks that each is in its group's line, to be
// swept.
func staleEntries(q *qtx) (int64, error) {
	n := int64(0)
	err := q.idx[stWaiting].ForEach(func(k, id []byte) error {
		if live, err := q.waitsAt(k, id); live || err != nil {
			return err
		}
		n++
		if gs, err := q.groups(false); gs == nil || err != nil {
			return fmt.Errorf("queue %s, not grouped: stale waiting entry %x of job %s (%v)", q.name, k, id, err)
		}
		j, err := q.job(string(id))
		if err != nil || j == nil {
			return fmt.Errorf("queue %s: stale waiting entry %x of job %s, which is gone (%v)", q.name, k, id, err)
		}
		if j.State == backend.StateWaiting || !bytes.Equal(waitingKey(j.Priority, j.Seq, nil), k) {
			return fmt.Errorf("queue %s: stale waiting entry %x of job %s, %s with waiting key %x", q.name, k, id, j.State, waitingKey(j.Priority, j.Seq, nil))
		}
		return nil
	})
	return n, err
}

// checkLines checks the lines of a grouped queue's groups: each waiting
// job is in its group's line, as many entries of a line are not stale as
// its group has jobs waiting, and the line of a group with none is empty.
func checkLines(q *qtx) error {
	gs, err := q.groups(false)
	if gs == nil || err != nil {
		return err
	}
	err = q.idx[stWaiting].ForEach(func(k, id []byte) error {
		j, err := q.job(string(id))
		if err != nil || j == nil {
			return fmt.Errorf("queue %s: waiting job %s: %v", q.name, id, err)
		}
		if got := gs.b.Get(lineKey(groupName(j), k)); !bytes.Equal(got, id) {
			return fmt.Errorf("queue %s: waiting job %s is not in the line of group %q", q.name, id, groupName(j))
		}
		return nil
	})
	if err != nil {
		return err
	}
	inLine := map[string]int{}
	// The keys of the stale entries at the head of each line, before
	// the first that is not.
	head, seenLive := map[string][][]byte{}, map[string]bool{}
	c := gs.b.Cursor()
	for k, v := c.Seek([]byte{'l'}); k != nil && k[0] == 'l'; k, v = c.Next() {
		name, idx, ok := bytes.Cut(k[1:], []byte{0})
		if ok && len(name) == 0 { // ungrouped, "\x00"
			name, idx, ok = k[1:2], idx[1:], len(idx) > 0
		}
		if !ok {
			return fmt.Errorf("queue %s: line key %q", q.name, k)
		}
		inLine[string(name)] += 0
		live, err := q.waitsAt(idx, v)
		if err != nil {
			return err
		}
		if live {
			inLine[string(name)]++
			seenLive[string(name)] = true
		} else if !seenLive[string(name)] {
			head[string(name)] = append(head[string(name)], bytes.Clone(idx))
		}
	}
	for name, n := range inLine {
		g, err := q.group(name)
		if err != nil {
			return err
		}
		if n != g.ready || g.ready == 0 {
			return fmt.Errorf("queue %s: group %q has %d jobs waiting, %d in its line, which is not empty", q.name, name, g.ready, n)
		}
		// The count is a lower bound: those entries are stale, and the
		// last of them is the one the record names.
		if h := head[name]; g.stale > len(h) || g.stale > 0 && !bytes.Equal(g.staleTo, h[g.stale-1]) {
			return fmt.Errorf("queue %s: group %q counts %d stale entries to %x at the head of its line, which has %d: %x", q.name, name, g.stale, g.staleTo, len(h), h)
		}
	}
	return nil
}

// checkFlow checks the flow links of job j, under key k of q: its count
// of pending children matches its entries, it waits for children only
// while one is pending, each pending child exists, has not ended and
// names j as its parent, and j, if it has not ended and its parent
// exists, is pending in the parent's entries. It returns the number of
// keys j owns in the deps bucket.
func checkFlow(tx *bbolt.Tx, q *qtx, k []byte, j *backend.Job) (int, error) {
	self := backend.JobRef{Queue: q.name, ID: j.ID}
	deps, err := q.childDeps(k)
	if err != nil {
		return 0, err
	}
	pending := 0
	for _, d := range deps {
		if d.done != nil {
			continue
		}
		pending++
		c, err := lookup(tx, d.ref)
		if err != nil {
			return 0, err
		}
		if c == nil || c.State.Final() || c.Parent == nil || *c.Parent != self {
			return 0, fmt.Errorf("job %s waits for child %s, which is gone, has ended or has another parent", self, d.ref)
		}
	}
	keys := len(deps)
	if v := q.deps.Get(k); v != nil {
		keys++
		if n, err := decodePending(v); err != nil || n != pending {
			return 0, fmt.Errorf("job %s counts %d pending children (%v), its entries %d", self, n, err, pending)
		}
	} else if len(deps) > 0 {
		return 0, fmt.Errorf("job %s has entries for children but no count", self)
	}
	if j.State == backend.StateWaitingChildren && pending == 0 {
		return 0, fmt.Errorf("job %s waits for children but none is pending", self)
	}
	if j.Parent == nil || j.State.Final() {
		return keys, nil
	}
	p, err := lookup(tx, *j.Parent)
	if p == nil || err != nil {
		return keys, err
	}
	v := readQueue(tx, j.Parent.Queue).deps.Get(depKey(jobKey(p.ID, nil), self, nil))
	if v == nil {
		return 0, fmt.Errorf("job %s has not ended, and its parent %s has no entry for it", self, j.Parent)
	}
	if d, err := decodeDep(v); err != nil || d.done != nil {
		return 0, fmt.Errorf("job %s has not ended, and its parent %s has its outcome (%v)", self, j.Parent, err)
	}
	return keys, nil
}

// lookup reads the job ref names, or nil.
func lookup(tx *bbolt.Tx, ref backend.JobRef) (*backend.Job, error) {
	q := readQueue(tx, ref.Queue)
	if q == nil {
		return nil, nil
	}
	return q.job(ref.ID)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}

var ctx = context.Background()

func add(t testing.TB, b *Backend, queue string, jobs ...backend.NewJob) []backend.Added {
	t.Helper()
	res, err := b.Add(ctx, queue, &backend.AddRequest{Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

func lease(t testing.TB, b *Backend, queue string, max int) []*backend.Job {
	t.Helper()
	res, err := b.Lease(ctx, queue, &backend.LeaseRequest{Worker: "w", Max: max, TTL: time.Minute, MaxStalled: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

func settle(t testing.TB, b *Backend, queue string, s ...backend.Settlement) []error {
	t.Helper()
	res, err := b.Settle(ctx, queue, &backend.SettleRequest{Settlements: s})
	if err != nil {
		t.Fatal(err)
	}
	return res.Errs
}

func job(t testing.TB, b *Backend, queue, id string) *backend.Job {
	t.Helper()
	j, err := b.Job(ctx, queue, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func counts(t testing.TB, b *Backend, queue string) backend.Counts {
	t.Helper()
	c, err := b.Counts(ctx, queue)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func events(t testing.TB, b *Backend, queue string, after uint64) []backend.Event {
	t.Helper()
	res, err := b.Events(ctx, queue, &backend.EventsRequest{After: after, Max: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return res.Events
}

func eventTypes(evs []backend.Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Type)+":"+e.JobID)
	}
	return s
}

func newClock() *fakeclock.Clock { return fakeclock.New(epoch) }
