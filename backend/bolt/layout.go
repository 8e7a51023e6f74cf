package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/droverhq/drover/backend"
	"go.etcd.io/bbolt"
)

// Sub-bucket names of a queue bucket; doc.go describes what each holds.
var (
	bucketJobs   = []byte("jobs")
	bucketEvents = []byte("events")
	bucketLogs   = []byte("logs")
	bucketSched  = []byte("schedulers")
	bucketMeta   = []byte("meta")
	bucketDeps   = []byte("deps") // flow parents' children: depKey, putPending
	bucketIndex  = [numStates][]byte{
		[]byte("waiting"), []byte("delayed"), []byte("active"),
		[]byte("waiting-children"), []byte("completed"), []byte("failed"),
	}
	metaKey = []byte("m")

	// queueBuckets are the sub-buckets of every queue bucket.
	queueBuckets = append([][]byte{bucketJobs, bucketEvents, bucketLogs, bucketSched, bucketMeta, bucketDeps}, bucketIndex[:]...)
)

// State numbers, used for the index buckets and the counts in meta.
const (
	stWaiting = iota
	stDelayed
	stActive
	stWaitingChildren
	stCompleted
	stFailed
	numStates
)

var stateNames = [numStates]backend.JobState{
	backend.StateWaiting, backend.StateDelayed, backend.StateActive,
	backend.StateWaitingChildren, backend.StateCompleted, backend.StateFailed,
}

func stateNum(s backend.JobState) int {
	for i, n := range stateNames {
		if n == s {
			return i
		}
	}
	return -1
}

// queuePrefix begins the name of every top-level bucket of drover's; the
// other top-level buckets of a file are the application's (OpenDB).
var queuePrefix = []byte("q:")

func queueBucketName(queue string) []byte { return []byte("q:" + queue) }

// meta is a queue's small mutable record.
type meta struct {
	seq       uint64 // last job sequence number given out
	lastEvent uint64 // ID of the newest event ever appended
	paused    bool
	counts    [numStates]int64
	// back and front count the places of the ready order given out (see
	// readyAt).
	back, front uint64
	// places is set once the queue keeps records at places (places.go).
	places bool
}

// qtx is one queue's buckets within a write or read transaction.
type qtx struct {
	t      *txn // nil in read transactions
	name   string
	root   *bbolt.Bucket
	jobs   *bbolt.Bucket
	events *bbolt.Bucket
	logs   *bbolt.Bucket
	sched  *bbolt.Bucket
	metaB  *bbolt.Bucket
	deps   *bbolt.Bucket
	idx    [numStates]*bbolt.Bucket

	// Cursors reused by the lookups of hot paths (a bbolt Get or Cursor
	// call allocates a fresh cursor each time); each use repositions.
	jobCur *bbolt.Cursor
	evCur  *bbolt.Cursor
	depCur *bbolt.Cursor
	idxCur [numStates]*bbolt.Cursor

	// jm is the metadata bucket, once looked up or made (metaBucket);
	// jmCur its reused cursor.
	jm    *bbolt.Bucket
	jmCur *bbolt.Cursor
	// pl is the places bucket and plCur its reused cursor, once looked
	// up (placeCursor);
	// lastID and lastKey the job whose record key recordKey found last,
	// as a lease or settle looks a job up and then writes it.
	pl       *bbolt.Bucket
	plCur    *bbolt.Cursor
	plLoaded bool
	lastID   string
	lastKey  []byte

	m         meta
	metaDirty bool
	// lim caches the queue's limits for the transaction (see limits).
	lim       *limitsRec
	limLoaded bool
	// gs is the queue's grouped mode for the transaction (see groups).
	gs       *groupsState
	gsLoaded bool
	// grecs holds the group records the transaction read or wrote
	// (group), grecDirty the names of those it changed.
	grecs     map[string]*groupRec
	grecDirty map[string]struct{}
	// leasing is set while a lease takes a grouped job: its line entry
	// stays behind, stale (see nextGrouped).
	leasing bool
	// Events appended by the transaction, written by flush.
	evBuf   []byte
	evCount int
}

// queue returns the queue's buckets in the write transaction, creating them
// when create is set; without it a queue that does not exist yields nil.
func (t *txn) queue(name string, create bool) (*qtx, error) {
	if q := t.queues[name]; q != nil {
		return q, nil
	}
	root := t.tx.Bucket(queueBucketName(name))
	if root == nil {
		if !create {
			return nil, nil
		}
		if err := backend.ValidateQueueName(name); err != nil {
			return nil, err
		}
		t.writes++
		var err error
		if root, err = createQueueBuckets(t.tx, name); err != nil {
			return nil, err
		}
	}
	q := openQueue(root, name)
	q.t = t
	q.evBuf, t.evBuf = t.evBuf, nil
	// Keys mostly append (event IDs, sequence numbers and times), so
	// pages split full; job records and a flow's entries for its
	// children grow when they are rewritten, so their pages keep some
	// room.
	q.jobs.FillPercent = 0.9
	q.deps.FillPercent = 0.9
	for _, b := range []*bbolt.Bucket{q.events, q.logs} {
		b.FillPercent = 1
	}
	for _, b := range q.idx {
		b.FillPercent = 1
	}
	if t.queues == nil {
		t.queues = make(map[string]*qtx)
	}
	t.queues[name] = q
	return q, nil
}

func createQueueBuckets(tx *bbolt.Tx, name string) (*bbolt.Bucket, error) {
	root, err := tx.CreateBucketIfNotExists(queueBucketName(name))
	if err != nil {
		return nil, err
	}
	for _, n := range queueBuckets {
		if _, err := root.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// openQueue wraps an existing queue bucket (read or write transaction).
func openQueue(root *bbolt.Bucket, name string) *qtx {
	q := &qtx{
		name:   name,
		root:   root,
		jobs:   root.Bucket(bucketJobs),
		events: root.Bucket(bucketEvents),
		logs:   root.Bucket(bucketLogs),
		sched:  root.Bucket(bucketSched),
		metaB:  root.Bucket(bucketMeta),
		deps:   root.Bucket(bucketDeps),
	}
	for i := range q.idx {
		q.idx[i] = root.Bucket(bucketIndex[i])
	}
	q.m = decodeMeta(q.metaB.Get(metaKey))
	return q
}

// readQueue returns the queue's buckets in a read transaction, or nil.
func readQueue(tx *bbolt.Tx, name string) *qtx {
	root := tx.Bucket(queueBucketName(name))
	if root == nil {
		return nil
	}
	return openQueue(root, name)
}

// checkFormat refuses a file whose queues were written in another record
// format (see codecVersion), which this code would misread: each queue
// bucket must have the deps bucket, and a meta record, if it has one yet,
// of this format.
func checkFormat(tx *bbolt.Tx) error {
	return tx.ForEach(func(name []byte, root *bbolt.Bucket) error {
		queue, ok := bytes.CutPrefix(name, queuePrefix)
		if !ok || root == nil {
			return nil
		}
		var format byte
		if m := root.Bucket(bucketMeta); m != nil {
			if v := m.Get(metaKey); len(v) > 0 {
				format = v[0]
			}
		}
		if root.Bucket(bucketDeps) != nil && (format == 0 || format == codecVersion || format == placesFormat) {
			return nil
		}
		return formatError(queue, format)
	})
}

// formatError reports a queue written in another record format (0: an
// earlier one that did not say).
func formatError(queue []byte, format byte) error {
	written := "an earlier record format"
	if format != 0 {
		written = fmt.Sprintf("record format %d", format)
	}
	return fmt.Errorf("%w: queue %s of this file is in %s, and this version of drover reads format %d only; "+
		"process or move its jobs with the version that wrote it, or move the file aside to start an empty store",
		backend.ErrUnsupported, queue, written, codecVersion)
}

func (q *qtx) dirty() {
	q.metaDirty = true
	q.t.writes++
}

// flush writes the meta record and the events appended, and trims the
// event log, at the end of a transaction that changed them.
func (q *qtx) flush() error {
	if err := q.flushGroups(); err != nil {
		return err
	}
	if q.evCount > 0 {
		if err := q.writeEvents(); err != nil {
			return err
		}
		if err := q.trimEvents(); err != nil {
			return err
		}
		if q.t.notify == nil {
			q.t.notify = make(map[string]struct{})
		}
		q.t.notify[q.name] = struct{}{}
	}
	if !q.metaDirty {
		return nil
	}
	q.metaDirty = false
	q.t.writes++
	return q.metaB.Put(metaKey, encodeMeta(q.t.alloc(metaSize), &q.m))
}

func (q *qtx) put(b *bbolt.Bucket, k, v []byte) error {
	q.t.writes++
	return b.Put(k, v)
}

func (q *qtx) del(b *bbolt.Bucket, k []byte) error {
	q.t.writes++
	return b.Delete(k)
}

// delAt deletes key k, if present, from the bucket of cur, which it
// repositions. It is del for the hot paths: Bucket.Delete allocates a
// cursor (and its stack) on every call, a reused cursor does not.
func (q *qtx) delAt(cur *bbolt.Cursor, k []byte) error {
	q.t.writes++
	if ck, _ := cur.Seek(k); ck == nil || string(ck) != string(k) {
		return nil
	}
	return cur.Delete()
}

// nextSeq gives out the next job sequence number.
func (q *qtx) nextSeq() uint64 {
	q.m.seq++
	q.dirty()
	return q.m.seq
}

// Ready order. A waiting job's Seq is its place among the waiting jobs of
// its priority, given when it becomes ready (added, promoted, due again
// after a retry, a parent whose children ended): each takes the next
// place at the back. A job recovered from a stalled worker, released
// unrun, or added LIFO takes the next place at the front, before all the
// others. Back places count up from orderBase, front places down from it,
// so that the two never meet.
const orderBase = 1 << 62

// readyAt sets j's place in the ready order: at the back of the line, or
// at its front.
func (q *qtx) readyAt(j *backend.Job, front bool) {
	if front {
		q.m.front++
		j.Seq = orderBase - q.m.front
	} else {
		q.m.back++
		j.Seq = orderBase + q.m.back
	}
	q.dirty()
}

// ---- keys

// jobKey is the key of a job in the jobs bucket: 0x00 + big-endian number
// for the store's own decimal IDs, the ID's bytes otherwise.
func jobKey(id string, buf []byte) []byte { return appendJobKey(buf[:0], id) }

func appendJobKey(buf []byte, id string) []byte {
	if n, ok := storeID(id); ok {
		buf = append(buf, 0)
		return binary.BigEndian.AppendUint64(buf, n)
	}
	return append(buf, id...)
}

// keyID is the job ID of job key k, the inverse of jobKey.
func keyID(k []byte) string {
	if len(k) == 9 && k[0] == 0 {
		return strconv.FormatUint(binary.BigEndian.Uint64(k[1:]), 10)
	}
	return string(k)
}

// storeID reports whether id is in the form of the store's own IDs.
func storeID(id string) (uint64, bool) {
	if id == "" || len(id) > 20 || id[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

// timeKey orders times as unsigned big-endian numbers.
func timeKey(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()) ^ (1 << 63)
}

func timeFromKey(k uint64) time.Time {
	return time.Unix(0, int64(k^(1<<63))).UTC()
}

// indexKey is the key of j in the index of its state.
func indexKey(j *backend.Job, buf []byte) []byte {
	buf = buf[:0]
	switch j.State {
	case backend.StateWaiting:
		return waitingKey(j.Priority, j.Seq, buf)
	case backend.StateDelayed:
		buf = binary.BigEndian.AppendUint64(buf, timeKey(j.RunAt))
	case backend.StateActive:
		buf = binary.BigEndian.AppendUint64(buf, timeKey(j.LeaseExpiresAt))
	case backend.StateCompleted, backend.StateFailed:
		buf = binary.BigEndian.AppendUint64(buf, timeKey(j.FinishedAt))
	}
	return binary.BigEndian.AppendUint64(buf, j.Seq)
}

// waitingKey is the key of a job of priority prio and place seq in the
// waiting index.
func waitingKey(prio int, seq uint64, buf []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf[:0], uint32(prio))
	return binary.BigEndian.AppendUint64(buf, seq)
}

// indexKeyLen is the length of every key that indexKey makes for the index
// of state s.
func indexKeyLen(s int) int {
	switch s {
	case stWaiting:
		return 4 + 8 // priority, sequence
	case stWaitingChildren:
		return 8
	}
	return 8 + 8 // time, sequence
}

// underJob is the prefix of the keys that belong to job jk in the logs
// and deps buckets: jk and 0x00. Another job's key neither starts with it
// nor is it: a store ID's key has a fixed length and starts with 0x00, and
// a caller-chosen ID has no 0x00 byte (nor has a queue name).
func underJob(jk []byte, buf []byte) []byte {
	return append(append(buf[:0], jk...), 0)
}

// logKey is the key of line n of a job's log.
func logKey(jk []byte, n int, buf []byte) []byte {
	return binary.BigEndian.AppendUint32(underJob(jk, buf), uint32(n))
}

// depKey is the key of parent jk's entry for child c in the deps bucket:
// underJob(jk), the child's queue, 0x00 and the child's job key. The
// parent's count of pending children is under jk itself.
func depKey(jk []byte, c backend.JobRef, buf []byte) []byte {
	buf = append(append(underJob(jk, buf), c.Queue...), 0)
	return appendJobKey(buf, c.ID)
}

// depChild reads the child's ref from a key of the deps bucket, given the
// length of its parent's underJob prefix.
func depChild(k []byte, prefix int) (backend.JobRef, bool) {
	rest := k[prefix:]
	i := bytes.IndexByte(rest, 0)
	if i <= 0 || i == len(rest)-1 {
		return backend.JobRef{}, false
	}
	return backend.JobRef{Queue: string(rest[:i]), ID: keyID(rest[i+1:])}, true
}

// ---- jobs and indexes

// job reads a job's record, or returns nil when there is none. The job
// lacks what its record does not hold, which fill adds.
func (q *qtx) job(id string) (*backend.Job, error) {
	var kb [24]byte
	rk := q.recordKey(id, kb[:0])
	v := q.getJob(rk)
	if v == nil {
		if len(rk) > 0 && rk[0] == placeTag {
			return nil, fmt.Errorf("%w: job %s of %s has a place but no record", errCorrupt, id, q.name)
		}
		return nil, nil
	}
	j, err := decodeJob(v)
	if err != nil {
		return nil, err
	}
	if j.ID != id {
		// A damaged place (places.go) names another job's record.
		return nil, fmt.Errorf("%w: the record of job %s in %s holds job %s", errCorrupt, id, q.name, j.ID)
	}
	j.Queue = q.name
	if j.Meta != nil && q.t != nil {
		// A record from before the metadata moved out (jobmeta.go).
		if err := q.putMeta(jobKey(id, kb[:0]), j.Meta); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// fullJob reads a job as the SPI hands it out (see fill); nil when there
// is none.
func (q *qtx) fullJob(id string) (*backend.Job, error) {
	j, err := q.job(id)
	if err != nil || j == nil {
		return j, err
	}
	return j, q.fill(j)
}

// fill adds to j, as job read it, what its record does not hold: its
// metadata, and its children and their outcomes. Every job the store
// hands out (Job, Jobs, Lease) is filled; the steps that only move jobs
// need neither.
func (q *qtx) fill(j *backend.Job) error {
	if err := q.loadMeta(j); err != nil {
		return err
	}
	return q.fillChildren(j)
}

func (q *qtx) exists(id string) bool {
	var kb [24]byte
	return q.getJob(q.recordKey(id, kb[:0])) != nil
}

// getJob returns the record under key k of the jobs bucket, or nil (also
// for a nil k).
func (q *qtx) getJob(k []byte) []byte {
	if k == nil {
		return nil
	}
	return get(q.jobCursor(), k)
}

// get returns the value under key k of the bucket of cur, which it
// repositions, or nil.
func get(cur *bbolt.Cursor, k []byte) []byte {
	ck, v := cur.Seek(k)
	if ck == nil || string(ck) != string(k) {
		return nil
	}
	return v
}

// jobCursor returns the reused cursor of the jobs bucket.
func (q *qtx) jobCursor() *bbolt.Cursor {
	if q.jobCur == nil {
		q.jobCur = q.jobs.Cursor()
	}
	return q.jobCur
}

// idxCursor returns the reused cursor of the index of state s.
func (q *qtx) idxCursor(s int) *bbolt.Cursor {
	if q.idxCur[s] == nil {
		q.idxCur[s] = q.idx[s].Cursor()
	}
	return q.idxCur[s]
}

// first returns the first entry of the index of state s.
func (q *qtx) first(s int) (k, v []byte) {
	return q.idxCursor(s).First()
}

// indexed reads the job that an entry of the index of state s names (v
// is the entry's value); a job missing from the jobs bucket is an error.
func (q *qtx) indexed(s int, v []byte) (*backend.Job, error) {
	j, err := q.job(string(v))
	if err == nil && j == nil {
		err = fmt.Errorf("drover: bolt: %s index of %s names missing job %s", stateNames[s], q.name, v)
	}
	return j, err
}

// depCursor returns the reused cursor of the deps bucket.
func (q *qtx) depCursor() *bbolt.Cursor {
	if q.depCur == nil {
		q.depCur = q.deps.Cursor()
	}
	return q.depCur
}

// eventCursor returns the reused cursor of the events bucket.
func (q *qtx) eventCursor() *bbolt.Cursor {
	if q.evCur == nil {
		q.evCur = q.events.Cursor()
	}
	return q.evCur
}

// putJob writes the record of j, an existing job (see putNewJob).
func (q *qtx) putJob(j *backend.Job) error {
	k := q.recordKey(j.ID, q.t.alloc(9)[:0]) // a longer key reallocates
	return q.put(q.jobs, k, encodeJob(q.t, j))
}

// index adds j to the index of its state.
func (q *qtx) index(j *backend.Job) error {
	s := stateNum(j.State)
	q.m.counts[s]++
	q.dirty()
	switch s {
	case stDelayed:
		q.t.noteDue(q.name, j.RunAt)
	case stActive:
		q.t.noteDue(q.name, j.LeaseExpiresAt)
	}
	if s == stWaiting || s == stActive {
		if err := q.groupIndexed(j, s, 1); err != nil {
			return err
		}
	}
	return q.put(q.idx[s], indexKey(j, q.t.alloc(16)[:0]), q.idValue(j.ID))
}

// unindex removes j from the index of its state.
func (q *qtx) unindex(j *backend.Job) error {
	s := stateNum(j.State)
	q.m.counts[s]--
	q.dirty()
	if s == stWaiting || s == stActive {
		if err := q.groupIndexed(j, s, -1); err != nil {
			return err
		}
	}
	if s == stWaiting && q.leasing {
		return nil // the entry stays, stale, for its group's line to sweep (groups.go)
	}
	var kb [16]byte
	return q.delAt(q.idxCursor(s), indexKey(j, kb[:0]))
}

func (q *qtx) idValue(id string) []byte {
	v := q.t.alloc(len(id))
	copy(v, id)
	return v
}

// move takes j out of its state's index, lets change edit it, puts it in
// the index of its new state and writes the record. A job that did not
// wait and changes its waiting key (waits again, or changes priority)
// drops the stale waiting index entry its last lease may have left.
func (q *qtx) move(j *backend.Job, change func()) error {
	var ob [12]byte
	old := waitingKey(j.Priority, j.Seq, ob[:0])
	waited := j.State == backend.StateWaiting
	if err := q.unindex(j); err != nil {
		return err
	}
	change()
	if err := q.index(j); err != nil {
		return err
	}
	var nb [12]byte
	if !waited && !bytes.Equal(old, waitingKey(j.Priority, j.Seq, nb[:0])) {
		if err := q.dropStale(j, old); err != nil {
			return err
		}
	}
	return q.putJob(j)
}

// deleteJob removes the record, index entry, metadata, log lines and flow
// entries for children of j, and appends a removed event.
func (q *qtx) deleteJob(j *backend.Job) error {
	if err := q.unindex(j); err != nil {
		return err
	}
	var kb, rb [24]byte
	jk := jobKey(j.ID, kb[:0])
	var lb [32]byte
	for i := 0; i < j.LogCount; i++ {
		if err := q.del(q.logs, logKey(jk, i, lb[:0])); err != nil {
			return err
		}
	}
	rk := q.recordKey(j.ID, rb[:0])
	if err := q.delAt(q.jobCursor(), rk); err != nil {
		return err
	}
	if err := q.dropPlace(jk, rk); err != nil {
		return err
	}
	if j.State != backend.StateWaiting {
		var wb [12]byte
		if err := q.dropStale(j, waitingKey(j.Priority, j.Seq, wb[:0])); err != nil {
			return err
		}
	}
	if err := q.dropMeta(jk); err != nil {
		return err
	}
	if err := q.dropDeps(jk); err != nil {
		return err
	}
	if j.DedupKey != "" && !j.State.Final() {
		if err := q.t.dedupFinished(q, j, true); err != nil {
			return err
		}
	}
	return q.jobEvent(backend.Event{Type: backend.EventRemoved}, j)
}

// firstIndexTime returns the time of the first key of a time-ordered index.
func (q *qtx) firstIndexTime(s int) (time.Time, bool) {
	k, _ := q.first(s)
	if len(k) < 8 {
		return time.Time{}, false
	}
	return timeFromKey(binary.BigEndian.Uint64(k)), true
}

func beUint64(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
