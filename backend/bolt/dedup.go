package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// bucketDedup holds a queue's deduplication keys: key → encoded
// dedupEntry, and the sweep index of the keys with a TTL (sweepKey → "").
// Queues made before it existed lack it until an add with a key creates
// it.
var bucketDedup = []byte("dedup")

// sweepKey is the key of key's entry in the sweep index: 0x00, the end of
// its TTL (unix ns, big-endian), then the key. Deduplication keys have no
// control characters, so no key's entry starts with 0x00.
func sweepKey(at time.Time, key string) []byte {
	k := binary.BigEndian.AppendUint64([]byte{0}, uint64(at.UnixNano()))
	return append(k, key...)
}

// sweepMax is the most index entries an add that takes a key sweeps.
// Each such add makes at most one, so the keys whose TTL ran out do not
// pile up while keyed adds go on.
const sweepMax = 8

// dedupEntry is a deduplication key as the store keeps it. Whether it
// holds is worked out when it is read (holds), so no removal path has to
// find and delete it: a key whose TTL passed, or whose job finished or is
// gone, is free.
type dedupEntry struct {
	jobID     string
	mode      backend.DedupMode
	expiresAt time.Time
	// keepLast is the KeepLastIfActive of the add that took the key: the
	// key's mode and options, not those of a later add, say what the
	// later add does.
	keepLast bool
	// next is the add kept to run when the job finishes (debounce,
	// KeepLastIfActive): its Delay is reckoned from then.
	next *backend.NewJob
}

func appendDedupEntry(buf []byte, x *dedupEntry) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.str(x.jobID)
	e.str(string(x.mode))
	e.time(x.expiresAt)
	e.bool(x.keepLast)
	e.bool(x.next != nil)
	if n := x.next; n != nil {
		appendNewJob(&e, n)
		e.d(n.Delay)
		e.bool(n.LIFO)
		appendMeta(&e, n.Meta)
		e.str(string(n.Dedup.Mode))
		e.d(n.Dedup.TTL)
		e.bool(n.Dedup.KeepLastIfActive)
	}
	return e.b
}

func decodeDedupEntry(key string, v []byte) (*dedupEntry, error) {
	d := dec{b: v}
	d.version()
	x := &dedupEntry{jobID: d.str(), mode: backend.DedupMode(d.str()), expiresAt: d.time(), keepLast: d.bool()}
	if d.bool() {
		n := readNewJob(&d)
		n.Delay = d.dur()
		n.LIFO = d.bool()
		n.Meta = readMeta(&d)
		n.Dedup = backend.Dedup{Key: key, Mode: backend.DedupMode(d.str()), TTL: d.dur(), KeepLastIfActive: d.bool()}
		x.next = &n
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return x, nil
}

// dedupBucket returns the queue's key bucket, creating it in a write
// transaction when create is set; nil when there is none.
func (q *qtx) dedupBucket(create bool) (*bbolt.Bucket, error) {
	if b := q.root.Bucket(bucketDedup); b != nil || !create {
		return b, nil
	}
	return q.root.CreateBucket(bucketDedup)
}

// dedupEntry reads the entry of key, or nil.
func (q *qtx) dedupEntry(key string) (*dedupEntry, error) {
	b, err := q.dedupBucket(false)
	if b == nil || err != nil {
		return nil, err
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	return decodeDedupEntry(key, v)
}

func (q *qtx) putDedup(key string, x *dedupEntry) error {
	b, err := q.dedupBucket(true)
	if err != nil {
		return err
	}
	v := q.t.encode(func(buf []byte) []byte { return appendDedupEntry(buf, x) })
	return q.put(b, q.t.keep([]byte(key)), v)
}

func (q *qtx) delDedup(key string) error {
	b, err := q.dedupBucket(false)
	if b == nil || err != nil {
		return err
	}
	return q.del(b, []byte(key))
}

// holds reports whether entry x of key holds at now, and returns the job
// that holds it (nil when a throttled key's job is gone).
func (q *qtx) holds(key string, x *dedupEntry, now time.Time) (*backend.Job, bool, error) {
	if x == nil || !x.expiresAt.IsZero() && !now.Before(x.expiresAt) {
		return nil, false, nil
	}
	j, err := q.job(x.jobID)
	switch {
	case err != nil:
		return nil, false, err
	case j != nil && j.DedupKey != key:
		// A job of a reused caller-chosen ID, not the key's.
		j = nil
	}
	if x.mode == backend.DedupThrottle {
		return j, true, nil
	}
	return j, j != nil && !j.State.Final(), nil
}

// takeKey makes job id the holder of d.Key.
func (q *qtx) takeKey(id string, d *backend.Dedup) error {
	x := &dedupEntry{jobID: id, mode: d.Mode, keepLast: d.KeepLastIfActive}
	if err := q.sweepKeys(); err != nil {
		return err
	}
	if d.TTL > 0 {
		x.expiresAt = q.t.now.Add(d.TTL)
		b, err := q.dedupBucket(true)
		if err != nil {
			return err
		}
		if err := q.put(b, q.t.keep(sweepKey(x.expiresAt, d.Key)), []byte{}); err != nil {
			return err
		}
	}
	return q.putDedup(d.Key, x)
}

// sweepKeys deletes the entries of up to sweepMax keys whose TTL ran out,
// oldest first. A key that no longer holds matters to nobody: a throttle's
// outlives its job until then, and a deferred add dies with its key's TTL.
// An index entry whose key was taken again or let go since is dropped.
func (q *qtx) sweepKeys() error {
	b, err := q.dedupBucket(false)
	if b == nil || err != nil {
		return err
	}
	now := q.t.now.UnixNano()
	var due [][]byte
	c := b.Cursor()
	for k, _ := c.Seek([]byte{0}); k != nil && k[0] == 0 && len(due) < sweepMax; k, _ = c.Next() {
		if len(k) < 9 {
			return errCorrupt
		}
		if int64(binary.BigEndian.Uint64(k[1:9])) > now {
			break
		}
		due = append(due, bytes.Clone(k))
	}
	for _, k := range due {
		key := string(k[9:])
		x, err := q.dedupEntry(key)
		if err != nil {
			return err
		}
		if x != nil && !x.expiresAt.IsZero() && x.expiresAt.UnixNano() <= now {
			if err := q.delDedup(key); err != nil {
				return err
			}
		}
		if err := q.del(b, k); err != nil {
			return err
		}
	}
	return nil
}

// dedupAdd handles an add of nj, which has a deduplication key: when the
// key holds, it acts on the holder as the mode says and returns what it
// did; else it returns ok false, and the caller makes the job (and then
// calls takeKey).
func (t *txn) dedupAdd(q *qtx, nj *backend.NewJob) (backend.Added, bool, error) {
	key := nj.Dedup.Key
	x, err := q.dedupEntry(key)
	if err != nil {
		return backend.Added{}, false, err
	}
	holder, held, err := q.holds(key, x, t.now)
	if err != nil || !held {
		return backend.Added{}, false, err
	}
	out := backend.DedupIgnored
	if x.mode == backend.DedupDebounce && holder != nil {
		switch holder.State {
		case backend.StateWaiting, backend.StateDelayed:
			out = backend.DedupReplaced
		case backend.StateActive:
			if x.keepLast {
				out = backend.DedupDeferred
			}
		}
	}
	ev := backend.Event{Type: backend.EventDeduplicated, Key: key, Reason: string(out)}
	if holder != nil {
		err = q.jobEvent(ev, holder)
	} else {
		ev.JobID = x.jobID
		err = q.event(ev)
	}
	if err != nil {
		return backend.Added{}, false, err
	}
	switch out {
	case backend.DedupReplaced:
		runAt := t.now.Add(nj.DelayAt(t.now))
		data := nj.Data
		err = t.change(q, holder, &backend.ChangeRequest{RunAt: &runAt, Data: &data})
	case backend.DedupDeferred:
		next := *nj
		next.Delay, next.RunAt = nj.DelayAt(t.now), time.Time{}
		x.next = &next
		err = q.putDedup(key, x)
	}
	return backend.Added{Queue: q.name, ID: x.jobID, Duplicate: true, Dedup: out}, true, err
}

// dedupFinished lets go of the key of j, which has just finished or is
// being removed, unless the key is a throttle's (which holds for its
// TTL). An add deferred until j finished is made now, and takes the key;
// unless the key's TTL ran out (a key that let go keeps nothing), or the
// add's caller-chosen ID was taken meanwhile (it would be a duplicate).
func (t *txn) dedupFinished(q *qtx, j *backend.Job, removed bool) error {
	x, err := q.dedupEntry(j.DedupKey)
	if x == nil || err != nil || x.jobID != j.ID || x.mode == backend.DedupThrottle {
		return err
	}
	live := x.expiresAt.IsZero() || t.now.Before(x.expiresAt)
	if n := x.next; n != nil && !removed && live && (n.ID == "" || !q.exists(n.ID)) {
		added, err := t.insert(q, n, nil)
		if err != nil {
			return err
		}
		return q.takeKey(added.ID, &n.Dedup)
	}
	return q.delDedup(j.DedupKey)
}

// DedupHolder reports who holds a deduplication key.
func (b *Backend) DedupHolder(ctx context.Context, queue, key string) (backend.DedupHolder, error) {
	var h backend.DedupHolder
	if err := validDedupCall(queue, key); err != nil {
		return h, err
	}
	now := b.opts.Clock.Now()
	err := b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return backend.ErrNotFound
		}
		x, err := q.dedupEntry(key)
		if err != nil {
			return err
		}
		_, held, err := q.holds(key, x, now)
		if err != nil {
			return err
		}
		if !held {
			return backend.ErrNotFound
		}
		h = backend.DedupHolder{Key: key, JobID: x.jobID, Mode: x.mode, ExpiresAt: x.expiresAt, Deferred: x.next != nil}
		return nil
	})
	return h, err
}

// ReleaseDedup lets go of a deduplication key, dropping an add deferred
// on it.
func (b *Backend) ReleaseDedup(ctx context.Context, queue, key string) (bool, error) {
	if err := validDedupCall(queue, key); err != nil {
		return false, err
	}
	var held bool
	err := b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, false)
		if q == nil || err != nil {
			return err
		}
		x, err := q.dedupEntry(key)
		if x == nil || err != nil {
			return err
		}
		if _, held, err = q.holds(key, x, t.now); err != nil {
			return err
		}
		return q.delDedup(key)
	})
	return held, err
}

func validDedupCall(queue, key string) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	return backend.ValidateDedupKey(key)
}
