package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
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
//     the entry of the job it takes behind, stale: deleting it would
//     write a page of lines for every job, since a round of the ring
//     visits every group's line. A later lease of the group skips stale
//     entries (those the waiting index does not hold) and deletes them
//     once there are staleSweep of them; a group with no job waiting has
//     an empty line;
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
	return g, d.end()
}

// groupsState is a queue's grouped mode within a transaction.
type groupsState struct {
	b    *bbolt.Bucket
	meta *groupsMeta
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

func (q *qtx) group(name string) (*groupRec, error) {
	v := q.gs.b.Get(infoKey(name))
	if v == nil {
		return &groupRec{}, nil
	}
	return decodeGroupRec(v)
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
		switch {
		case d > 0:
			err = q.put(gs.b, q.t.keep(k), q.idValue(j.ID))
		case g.ready == 0:
			err = q.dropLine(name, true)
		case q.leasing:
			// The entry stays, stale, for nextGrouped to sweep.
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
		if err := q.saveGroupsMeta(); err != nil {
			return err
		}
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
	if g.ready == 0 && g.active == 0 && !g.paused && len(g.starts) == 0 && g.place == 0 && g.wakeAt == 0 {
		return q.del(gs.b, infoKey(name))
	}
	v := q.t.encode(func(buf []byte) []byte { return appendGroupRec(buf, g) })
	return q.put(gs.b, q.t.keep(infoKey(name)), v)
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
	prefix := lineKey(name, nil)
	stale := 0
	lk, id := c.Seek(prefix)
	for ; lk != nil && bytes.HasPrefix(lk, prefix); lk, id = c.Next() {
		if q.inLine(lk[len(prefix):], id) {
			break
		}
		stale++
	}
	if lk == nil || !bytes.HasPrefix(lk, prefix) {
		return nil, "", errCorrupt // a group in the ring has a job ready
	}
	j, err := q.job(string(id))
	if err != nil {
		return nil, "", err
	}
	if j == nil {
		return nil, "", errCorrupt
	}
	if stale >= staleSweep {
		if err := q.dropLine(name, false); err != nil {
			return nil, "", err
		}
	}
	return j, name, nil
}

// staleSweep is how many stale entries a lease finds at the head of a
// line before it deletes them: one page written for that many jobs,
// against about that many index lookups at most per lease.
const staleSweep = 16

// inLine reports whether the line entry of key idx (the job's key in the
// waiting index) and value id is the job's, not stale: the job waits.
func (q *qtx) inLine(idx, id []byte) bool {
	return bytes.Equal(get(q.idxCursor(stWaiting), idx), id)
}

// dropLine deletes the stale entries at the head of group name's line, or
// with all set every entry, all stale once no job of the group waits.
func (q *qtx) dropLine(name string, all bool) error {
	prefix := lineKey(name, nil)
	c := q.gs.b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && (all || !q.inLine(k[len(prefix):], v)); k, v = c.Seek(prefix) {
		q.t.writes++
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
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
			if !q.inLine(k[len(prefix):], v) {
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
