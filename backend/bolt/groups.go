package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// Groups. A queue is in grouped mode from its first job with a group on
// (groupsKey in its meta bucket says so). From then, every waiting job is
// in the waiting index as before (listings, counts) and also in its
// group's line, and a lease takes the next job of the group at the front
// of the ring of groups that may start a job now, then moves that group
// to the back. Jobs without a group are the group ungrouped. A group
// leaves the ring when it has no job ready, is paused or at its
// concurrency limit, or (until a wake entry brings it back) at its rate
// limit. All of this lives in the bucket "groups" of the queue:
//
//   - 'i' name → the group's record (groupRec): counts, paused, place in
//     the ring, recent starts;
//   - 'r' place → name: the ring, in the order groups are served;
//   - 'l' name 0x00 priority place → job ID: each group's line, whose
//     keys end with the job's key in the waiting index. A lease leaves
//     the entry of the job it takes behind, stale, in the line and in the
//     waiting index: deleting them would write a page of each for every
//     job, since a round of the ring visits every group's line, and jobs
//     added group after group lie apart in the waiting index too. An
//     entry is stale when its job does not wait under its key (waitsAt).
//     A later lease of the group skips the stale entries at the head of
//     its line and deletes them, with their waiting index entries, once
//     there are staleSweep of them; a group with no job waiting has an
//     empty line. A job has at most one stale waiting index entry, under
//     its priority and place (waitingKey), while it does not wait: a job
//     that waits again or is removed takes its stale entry with it
//     (dropStale);
//   - 'w' time name → "": groups held back by their rate limit until then.
//
// Group names have no control characters, so 0x00 ends one, and
// ungrouped (0x00) is no group's name. The index hooks (groupIndexed)
// keep all of it in step with every move of a job, whatever the path.
var (
	bucketGroups = []byte("groups")
	groupsKey    = []byte("groups")
)

// ungrouped is the group of the jobs without one, in grouped mode.
const ungrouped = "\x00"

// groupsMeta is a queue's record of its groups, in its meta bucket.
type groupsMeta struct {
	ringSeq uint64
	limits  backend.Limits
}

// groupRec is one group's record.
type groupRec struct {
	ready, active int
	paused        bool
	place         uint64  // its key in the ring; 0 when out of it
	wakeAt        int64   // its wake entry's time (unix ns); 0 when none
	starts        []int64 // start times within the rate period, oldest first
	// stale is how many entries at the head of the line are stale at
	// least (more may follow), or -1 when that is not known (a record
	// from before it was kept, or a job placed among them); staleTo is
	// the key (in the waiting index) of the last of them. A lease skips
	// them without looking their jobs up. Entries never become live
	// again, and only sweeps delete stale ones, so the count stays true
	// until a job is placed before staleTo.
	stale   int
	staleTo []byte
}

func appendGroupsMeta(buf []byte, m *groupsMeta) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.u(m.ringSeq)
	e.n(m.limits.Concurrency)
	e.n(m.limits.Rate)
	e.d(m.limits.RatePer)
	return e.b
}

func decodeGroupsMeta(v []byte) (*groupsMeta, error) {
	d := dec{b: v}
	d.version()
	m := &groupsMeta{ringSeq: d.u()}
	m.limits.Concurrency, m.limits.Rate, m.limits.RatePer = d.n(), d.n(), d.dur()
	return m, d.end()
}

func appendGroupRec(buf []byte, g *groupRec) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.n(g.ready)
	e.n(g.active)
	e.bool(g.paused)
	e.u(g.place)
	e.i(g.wakeAt)
	e.u(uint64(len(g.starts)))
	for _, s := range g.starts {
		e.i(s)
	}
	e.n(g.stale)
	e.bytes(g.staleTo)
	return e.b
}

func decodeGroupRec(v []byte) (*groupRec, error) {
	d := dec{b: v}
	d.version()
	g := &groupRec{ready: d.n(), active: d.n(), paused: d.bool(), place: d.u(), wakeAt: d.i()}
	if n := d.length(); n > 0 {
		g.starts = make([]int64, n)
		for i := range g.starts {
			g.starts[i] = d.i()
		}
	}
	g.stale = -1
	if d.more() {
		g.stale, g.staleTo = d.n(), d.bytes()
	}
	return g, d.end()
}

// groupsState is a queue's grouped mode within a transaction.
type groupsState struct {
	b    *bbolt.Bucket
	meta *groupsMeta
	// info is the reused cursor of group's lookups.
	info *bbolt.Cursor
	// metaDirty is set when meta changed since it was last written.
	metaDirty bool
}

// groups returns the queue's grouped mode, nil when it is not grouped.
// With create set (a write transaction), it enters grouped mode.
func (q *qtx) groups(create bool) (*groupsState, error) {
	if q.gs != nil || (q.gsLoaded && !create) {
		return q.gs, nil
	}
	q.gsLoaded = true
	v := q.metaB.Get(groupsKey)
	if v == nil && !create {
		return nil, nil
	}
	gs := &groupsState{meta: &groupsMeta{}}
	if v != nil {
		m, err := decodeGroupsMeta(v)
		if err != nil {
			return nil, err
		}
		gs.meta = m
	}
	gs.b = q.root.Bucket(bucketGroups)
	if gs.b == nil {
		if !create || q.t == nil {
			return nil, errCorrupt
		}
		b, err := q.root.CreateBucket(bucketGroups)
		if err != nil {
			return nil, err
		}
		gs.b = b
	}
	q.gs = gs
	if v == nil {
		if err := q.saveGroupsMeta(); err != nil {
			return nil, err
		}
		if err := q.enterGrouped(); err != nil {
			return nil, err
		}
	}
	return gs, nil
}

func (q *qtx) saveGroupsMeta() error {
	q.gs.metaDirty = false
	v := q.t.encode(func(buf []byte) []byte { return appendGroupsMeta(buf, q.gs.meta) })
	return q.put(q.metaB, groupsKey, v)
}

// enterGrouped puts the waiting jobs of a queue entering grouped mode,
// none of which has a group yet, in the line of ungrouped.
func (q *qtx) enterGrouped() error {
	g := &groupRec{}
	c := q.idx[stWaiting].Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := q.put(q.gs.b, lineKey(ungrouped, k), q.t.keep(v)); err != nil {
			return err
		}
		g.ready++
	}
	return q.regroup(ungrouped, g, false)
}

func groupName(j *backend.Job) string {
	if j.Group == "" {
		return ungrouped
	}
	return j.Group
}

func infoKey(name string) []byte { return append([]byte{'i'}, name...) }

func ringKey(place uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'r'}, place) }

func lineKey(name string, idx []byte) []byte {
	k := append([]byte{'l'}, name...)
	k = append(k, 0)
	return append(k, idx...)
}

func wakeKey(at int64, name string) []byte {
	k := binary.BigEndian.AppendUint64([]byte{'w'}, uint64(at))
	return append(k, name...)
}

// group returns the record of group name, as the transaction last wrote it
// (regroup, which flushGroups writes to the file): a lease reads and
// changes its group's record several times. Callers change it only to
// write it with regroup.
func (q *qtx) group(name string) (*groupRec, error) {
	if g := q.grecs[name]; g != nil {
		return g, nil
	}
	g := &groupRec{}
	if q.gs.info == nil {
		q.gs.info = q.gs.b.Cursor()
	}
	var kb [64]byte
	if v := get(q.gs.info, append(append(kb[:0], 'i'), name...)); v != nil {
		var err error
		if g, err = decodeGroupRec(v); err != nil {
			return nil, err
		}
	}
	if q.t != nil {
		if q.grecs == nil {
			q.grecs = make(map[string]*groupRec)
		}
		q.grecs[name] = g
	}
	return g, nil
}

// groupIndexed keeps the groups in step with j entering (d = 1) or
// leaving (d = -1) the index of state s, waiting or active.
func (q *qtx) groupIndexed(j *backend.Job, s, d int) error {
	gs, err := q.groups(j.Group != "" && d > 0)
	if gs == nil || err != nil {
		return err
	}
	name := groupName(j)
	g, err := q.group(name)
	if err != nil {
		return err
	}
	if s == stWaiting {
		g.ready += d
		var kb [16]byte
		k := lineKey(name, indexKey(j, kb[:0]))
		idx := k[len(k)-indexKeyLen(stWaiting):]
		switch {
		case d > 0:
			if g.stale != 0 && (g.stale < 0 || bytes.Compare(idx, g.staleTo) < 0) {
				g.stale = -1 // placed among the stale entries
			}
			err = q.put(gs.b, q.t.keep(k), q.idValue(j.ID))
		case g.ready == 0:
			g.stale, g.staleTo = 0, nil
			err = q.dropLine(name, -1)
		case q.leasing:
			// The entry stays, stale, for nextGrouped to sweep; a lease
			// takes the first entry that is not stale.
			if g.stale >= 0 {
				g.stale++
				g.staleTo = bytes.Clone(idx)
			}
		default:
			err = q.del(gs.b, k)
		}
		if err != nil {
			return err
		}
	} else {
		g.active += d
	}
	return q.regroup(name, g, false)
}

// regroup writes g, the record of group name, after a change, and puts
// the group in the ring (at the back), takes it out, or sets it to wake
// when its rate limit next allows a start, as it now may or may not start
// a job; with rotate set, a group in the ring goes to its back.
func (q *qtx) regroup(name string, g *groupRec, rotate bool) error {
	gs := q.gs
	lim := gs.meta.limits
	if name == ungrouped {
		lim = backend.Limits{} // the group limits are those of the groups
	}
	now := q.t.now
	if lim.Rate > 0 {
		g.starts = inWindow(g.starts, now, lim.RatePer)
	} else {
		g.starts = nil
	}
	var wake int64
	may := g.ready > 0 && !g.paused && (lim.Concurrency == 0 || g.active < lim.Concurrency)
	if may && lim.Rate > 0 && len(g.starts) >= lim.Rate {
		may = false
		wake = nextStart(g.starts, lim.Rate, lim.RatePer).UnixNano()
	}
	if g.place != 0 && (!may || rotate) {
		if err := q.del(gs.b, ringKey(g.place)); err != nil {
			return err
		}
		g.place = 0
	}
	if may && g.place == 0 {
		gs.meta.ringSeq++
		g.place = gs.meta.ringSeq
		gs.metaDirty = true // written by flushGroups
		q.t.writes++
		if err := q.put(gs.b, q.t.keep(ringKey(g.place)), q.t.keep([]byte(name))); err != nil {
			return err
		}
		if !rotate {
			q.t.addWake(q.name, 1)
		}
	}
	if g.wakeAt != wake {
		if g.wakeAt != 0 {
			if err := q.del(gs.b, wakeKey(g.wakeAt, name)); err != nil {
				return err
			}
		}
		if wake != 0 {
			if err := q.put(gs.b, q.t.keep(wakeKey(wake, name)), []byte{}); err != nil {
				return err
			}
			q.t.noteDue(q.name, time.Unix(0, wake))
		}
		g.wakeAt = wake
	}
	if q.grecs == nil {
		q.grecs = make(map[string]*groupRec)
	}
	if q.grecDirty == nil {
		q.grecDirty = make(map[string]struct{})
	}
	q.grecs[name] = g
	q.grecDirty[name] = struct{}{}
	q.t.writes++
	return nil
}

// idle reports whether g holds nothing a group keeps: its record goes.
func (g *groupRec) idle() bool {
	return g.ready == 0 && g.active == 0 && !g.paused && len(g.starts) == 0 && g.place == 0 && g.wakeAt == 0
}

// flushGroups writes the records of the groups that changed since the
// last flush: a lease changes its group's record three times, written
// once.
func (q *qtx) flushGroups() error {
	if q.gs != nil && q.gs.metaDirty {
		if err := q.saveGroupsMeta(); err != nil {
			return err
		}
	}
	for name := range q.grecDirty {
		var err error
		if g := q.grecs[name]; g.idle() {
			err = q.del(q.gs.b, infoKey(name))
		} else {
			v := q.t.encode(func(buf []byte) []byte { return appendGroupRec(buf, g) })
			err = q.put(q.gs.b, q.t.keep(infoKey(name)), v)
		}
		if err != nil {
			return err
		}
	}
	clear(q.grecDirty)
	return nil
}

// wakeGroups brings the groups whose rate limit allows a start again back
// to the ring.
func (q *qtx) wakeGroups() error {
	gs := q.gs
	now := q.t.now.UnixNano()
	c := gs.b.Cursor()
	for range maxPromote {
		k, _ := c.Seek([]byte{'w'})
		if k == nil || k[0] != 'w' || int64(binary.BigEndian.Uint64(k[1:9])) > now {
			return nil
		}
		name := string(k[9:])
		g, err := q.group(name)
		if err != nil {
			return err
		}
		if err := q.del(gs.b, k); err != nil {
			return err
		}
		g.wakeAt = 0
		if err := q.regroup(name, g, false); err != nil {
			return err
		}
		c = gs.b.Cursor() // the bucket changed under the cursor
	}
	return nil
}

// nextWake returns when the first group held back by its rate limit may
// start a job again; zero when none is held back.
func (q *qtx) nextWake() time.Time {
	k, _ := q.gs.b.Cursor().Seek([]byte{'w'})
	if k == nil || k[0] != 'w' {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9]))).UTC()
}

// groupReady reports whether a lease can take a job as far as groups
// go: always in a queue that is not grouped, else when a group is in the
// ring (after the groups due to wake have).
func (q *qtx) groupReady() (bool, error) {
	gs, err := q.groups(false)
	if gs == nil || err != nil {
		return err == nil, err
	}
	if err := q.wakeGroups(); err != nil {
		return false, err
	}
	k, _ := gs.b.Cursor().Seek([]byte{'r'})
	return k != nil && k[0] == 'r', nil
}

// nextGrouped returns the next job to lease in grouped mode: the first of
// the line of the group at the front of the ring, which then goes to the
// back of it. It returns nil when no group may start a job.
func (q *qtx) nextGrouped() (*backend.Job, string, error) {
	gs := q.gs
	c := gs.b.Cursor()
	k, v := c.Seek([]byte{'r'})
	if k == nil || k[0] != 'r' {
		return nil, "", nil
	}
	name := string(v)
	g, err := q.group(name)
	if err != nil {
		return nil, "", err
	}
	prefix := lineKey(name, nil)
	var (
		j      *backend.Job
		lk, id []byte
	)
	was := g.stale
	if g.stale >= 0 {
		// Skip the stale entries the group's record counts, to the last
		// of them; the job after them must wait under its entry's key,
		// else look.
		if g.stale == 0 {
			lk, id = c.Seek(prefix)
		} else if to := lineKey(name, g.staleTo); bytes.Equal(keyOf(c.Seek(to)), to) {
			lk, id = c.Next()
		}
		if j, err = q.lineJob(prefix, lk, id); err != nil {
			return nil, "", err
		}
	}
	if j == nil {
		stale, last := 0, []byte(nil)
		lk, id = c.Seek(prefix)
		for ; lk != nil && bytes.HasPrefix(lk, prefix); lk, id = c.Next() {
			if ok, err := q.waitsAt(lk[len(prefix):], id); ok || err != nil {
				if err != nil {
					return nil, "", err
				}
				break
			}
			stale, last = stale+1, lk[len(prefix):]
		}
		if j, err = q.lineJob(prefix, lk, id); err != nil {
			return nil, "", err
		}
		if j == nil {
			return nil, "", errCorrupt // a group in the ring has a job ready
		}
		g.stale, g.staleTo = stale, bytes.Clone(last)
	}
	if g.stale >= staleSweep {
		if err := q.dropLine(name, g.stale); err != nil {
			return nil, "", err
		}
		g.stale, g.staleTo = 0, nil
	}
	if g.stale == was {
		return j, name, nil
	}
	return j, name, q.regroup(name, g, false)
}

// lineJob returns the job of line entry (lk, id) of the line with prefix
// prefix if it waits under the entry's key; nil if the entry is stale or
// not of the line.
func (q *qtx) lineJob(prefix, lk, id []byte) (*backend.Job, error) {
	if lk == nil || !bytes.HasPrefix(lk, prefix) {
		return nil, nil
	}
	j, err := q.job(string(id))
	if err != nil || j == nil {
		return nil, err
	}
	var kb [12]byte
	if j.State != backend.StateWaiting || !bytes.Equal(waitingKey(j.Priority, j.Seq, kb[:0]), lk[len(prefix):]) {
		return nil, nil
	}
	return j, nil
}

// staleSweep is how many stale entries the head of a line holds before a
// lease deletes them, with their waiting index entries: a page of each
// written for that many jobs, where each lease would write one.
const staleSweep = 16

// keyOf returns the key of a cursor's key and value.
func keyOf(k, _ []byte) []byte { return k }

// waitsAt reports whether job id waits under key idx of the waiting index:
// whether an entry of the index, or of a group's line (whose keys end
// with idx), is not stale.
func (q *qtx) waitsAt(idx, id []byte) (bool, error) {
	var kb [24]byte
	rk := q.recordKey(string(id), kb[:0])
	v := q.getJob(rk)
	if v == nil {
		if len(rk) > 0 && rk[0] == placeTag {
			return false, fmt.Errorf("%w: job %s of %s has a place but no record", errCorrupt, id, q.name)
		}
		return false, nil // removed
	}
	rid, s, prio, seq, ok := readIndexFields(v)
	if !ok {
		return false, errCorrupt
	}
	if !bytes.Equal(rid, id) {
		return false, fmt.Errorf("%w: the record of job %s in %s holds job %s", errCorrupt, id, q.name, rid)
	}
	var wb [12]byte
	return s == stWaiting && bytes.Equal(waitingKey(prio, seq, wb[:0]), idx), nil
}

// staleCheck returns, for the index of state s, the test of an entry for
// staleness: nil when the index has no stale entries, which only the
// waiting index of a grouped queue has.
func (q *qtx) staleCheck(s int) (func(k, id []byte) (bool, error), error) {
	if s != stWaiting {
		return nil, nil
	}
	if gs, err := q.groups(false); gs == nil || err != nil {
		return nil, err
	}
	return func(k, id []byte) (bool, error) {
		live, err := q.waitsAt(k, id)
		return !live, err
	}, nil
}

// dropLine deletes the first n entries of group name's line, all stale,
// or with n < 0 every entry, all stale once no job of the group waits, and
// the stale waiting index entries of the same jobs.
func (q *qtx) dropLine(name string, n int) error {
	prefix := lineKey(name, nil)
	c := q.gs.b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && n != 0; k, v = c.Seek(prefix) {
		n--
		if err := q.dropWaiting(k[len(prefix):], v); err != nil {
			return err
		}
		q.t.writes++
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// dropWaiting deletes the entry of key idx of the waiting index if it
// names job id.
func (q *qtx) dropWaiting(idx, id []byte) error {
	c := q.idxCursor(stWaiting)
	if k, v := c.Seek(idx); k == nil || !bytes.Equal(k, idx) || !bytes.Equal(v, id) {
		return nil
	}
	q.t.writes++
	return c.Delete()
}

// dropStale deletes the stale waiting index entry that j, which does not
// wait, may have left under key idx when a lease took it, as j waits
// again under another key or is removed. In a queue that is not grouped
// there is none.
func (q *qtx) dropStale(j *backend.Job, idx []byte) error {
	if gs, err := q.groups(false); gs == nil || err != nil {
		return err
	}
	var ib [24]byte
	return q.dropWaiting(idx, append(ib[:0], j.ID...))
}

// groupStarted records that group name started a job: its rate window
// counts it, and it goes to the back of the ring.
func (q *qtx) groupStarted(name string) error {
	g, err := q.group(name)
	if err != nil {
		return err
	}
	if q.gs.meta.limits.Rate > 0 && name != ungrouped {
		g.starts = append(g.starts, q.t.now.UnixNano())
	}
	return q.regroup(name, g, true)
}

// SetGroupLimits sets the limits of each group of a queue.
func (b *Backend) SetGroupLimits(ctx context.Context, queue string, lim backend.Limits) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := lim.Validate(); err != nil {
		return err
	}
	return b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, true)
		if err != nil {
			return err
		}
		gs, err := q.groups(true)
		if err != nil {
			return err
		}
		gs.meta.limits = lim
		if err := q.saveGroupsMeta(); err != nil {
			return err
		}
		// Every group's place in the ring depends on the limits.
		if err := q.flushGroups(); err != nil {
			return err
		}
		var names []string
		c := gs.b.Cursor()
		for k, _ := c.Seek([]byte{'i'}); k != nil && k[0] == 'i'; k, _ = c.Next() {
			names = append(names, string(k[1:]))
		}
		for _, name := range names {
			g, err := q.group(name)
			if err != nil {
				return err
			}
			if err := q.regroup(name, g, false); err != nil {
				return err
			}
		}
		return q.event(backend.Event{Type: backend.EventGroupLimitsChanged, Data: lim.EventData()})
	})
}

// PauseGroup stops or resumes leases of a group's jobs.
func (b *Backend) PauseGroup(ctx context.Context, queue, group string, paused bool) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if group == "" {
		return backend.Invalid("Group", "group name is empty")
	}
	if err := backend.ValidateGroup(group); err != nil {
		return err
	}
	return b.update(ctx, func(t *txn) error {
		q, err := t.queue(queue, true)
		if err != nil {
			return err
		}
		if _, err := q.groups(true); err != nil {
			return err
		}
		g, err := q.group(group)
		if err != nil {
			return err
		}
		if g.paused == paused {
			return nil
		}
		g.paused = paused
		if err := q.regroup(group, g, false); err != nil {
			return err
		}
		typ := backend.EventGroupResumed
		if paused {
			typ = backend.EventGroupPaused
		}
		return q.event(backend.Event{Type: typ, Group: group})
	})
}

// Groups lists a queue's groups.
func (b *Backend) Groups(ctx context.Context, queue string, req *backend.GroupsRequest) (backend.GroupsResult, error) {
	var res backend.GroupsResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	var r backend.GroupsRequest
	if req != nil {
		r = *req
	}
	if r.Limit == 0 {
		r.Limit = 100
	}
	err := b.viewGroups(queue, func(q *qtx, gs *groupsState) error {
		res.Limits = gs.meta.limits
		c := gs.b.Cursor()
		k, v := c.Seek(infoKey(r.After))
		if k != nil && r.After != "" && string(k[1:]) == r.After {
			k, v = c.Next()
		}
		for ; k != nil && k[0] == 'i' && len(res.Groups) < r.Limit; k, v = c.Next() {
			name := string(k[1:])
			if name == ungrouped {
				continue
			}
			g, err := decodeGroupRec(v)
			if err != nil {
				return err
			}
			if g.ready == 0 && g.active == 0 && !g.paused {
				continue
			}
			res.Groups = append(res.Groups, backend.GroupInfo{Name: name, Waiting: g.ready, Active: g.active, Paused: g.paused})
		}
		return nil
	})
	return res, err
}

// viewGroups runs fn in a read transaction on the queue's grouped mode;
// it does not run fn when the queue has no groups.
func (b *Backend) viewGroups(queue string, fn func(q *qtx, gs *groupsState) error) error {
	return b.view(func(tx *bbolt.Tx) error {
		q := readQueue(tx, queue)
		if q == nil {
			return nil
		}
		gs, err := q.groups(false)
		if gs == nil || err != nil {
			return err
		}
		return fn(q, gs)
	})
}

var _ backend.GroupStore = (*Backend)(nil)

// GroupJobs returns a page of a group's waiting jobs, read from its line,
// or of its active ones, found among the queue's active jobs (which are
// few: bounded by the workers' slots).
func (b *Backend) GroupJobs(ctx context.Context, queue, group string, req *backend.JobsRequest) (backend.JobsResult, error) {
	var res backend.JobsResult
	if err := backend.ValidateQueueName(queue); err != nil {
		return res, err
	}
	if err := backend.ValidateGroupJobs(group, req); err != nil {
		return res, err
	}
	limit := cmp.Or(req.Limit, 100)
	err := b.viewGroups(queue, func(q *qtx, gs *groupsState) error {
		if req.State == backend.StateActive {
			var err error
			res.Jobs, err = q.activeJobs(req.Offset, limit, func(j *backend.Job) bool { return j.Group == group })
			return err
		}
		prefix := lineKey(group, nil)
		c := gs.b.Cursor()
		skip := req.Offset
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(res.Jobs) < limit; k, v = c.Next() {
			if live, err := q.waitsAt(k[len(prefix):], v); !live || err != nil {
				if err != nil {
					return err
				}
				continue // stale
			}
			if skip > 0 {
				skip--
				continue
			}
			j, err := q.fullJob(string(v))
			if err != nil {
				return err
			}
			if j == nil {
				return errCorrupt // a job in a line is stored
			}
			res.Jobs = append(res.Jobs, j)
		}
		return nil
	})
	return res, err
}
