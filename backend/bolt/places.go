package bolt

import (
	"encoding/binary"
	"math"

	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// Record places. A job's record is written again at every move of the
// job: twice for each attempt (lease and settle). Keyed by job key, the
// records of jobs that run one after another sit next to each other when
// the jobs were added in the order they run, as in a queue without
// groups. A grouped queue runs its groups in turn, so jobs added group
// after group run in an order far from the order of their IDs, and each
// move would write a leaf page of records of its own.
//
// So a job added to a grouped queue keeps its record at a place instead:
// the key placeTag, its ordinal and its job key, where the ordinal is the
// job's position in its group when it was added (the jobs of its group
// waiting or active before it, plus one). Round robin serves the first
// job of every group, then the second, so jobs that run together have
// about the same ordinal, and their records share pages whatever order
// they were added in. The bucket "places" maps the job key to the place;
// it is written when the job is added and when it is removed, in the
// order of the job keys. Jobs without a place (added before the queue had
// a group, or to a queue that never had one) keep their record under
// their job key. The place is only where the record lies: the order jobs
// run in comes from the indexes and the groups' lines, as before.
//
// No job key starts with placeTag: store IDs' keys start with 0x00 and
// caller-chosen IDs have no control character. A queue with places
// writes its meta record in placesFormat, which versions of drover from
// before places refuse (checkFormat) rather than miss those records.
var bucketPlaces = []byte("places")

const (
	placeTag     = 0x01
	placesFormat = codecVersion + 1
)

// placeKey is the record key of a job of job key jk at ordinal n.
func placeKey(n uint32, jk []byte, buf []byte) []byte {
	buf = append(buf[:0], placeTag)
	buf = binary.BigEndian.AppendUint32(buf, n)
	return append(buf, jk...)
}

// placeCursor returns the reused cursor of the places bucket, or nil when
// the queue has none.
func (q *qtx) placeCursor() *bbolt.Cursor {
	if !q.plLoaded {
		q.plLoaded = true
		if q.pl = q.root.Bucket(bucketPlaces); q.pl != nil {
			q.plCur = q.pl.Cursor()
		}
	}
	return q.plCur
}

// recordKey appends to buf[:0] the key of the record of job id in the jobs
// bucket: its place, or its job key when it has none. It returns nil for
// an ID that names no record (one that starts with placeTag).
func (q *qtx) recordKey(id string, buf []byte) []byte {
	if id != "" && id[0] == placeTag {
		return nil
	}
	if q.lastID != "" && id == q.lastID {
		return append(buf[:0], q.lastKey...)
	}
	jk := appendJobKey(buf[:0], id)
	c := q.placeCursor()
	if c == nil {
		return jk
	}
	if v := get(c, jk); v != nil {
		jk = append(buf[:0], v...)
	}
	q.lastID, q.lastKey = id, append(q.lastKey[:0], jk...)
	return jk
}

// putNewJob writes the record of j, a job the transaction adds: at a
// place in a grouped queue, else under its job key. j is indexed already,
// so its group counts it.
func (q *qtx) putNewJob(j *backend.Job) error {
	gs, err := q.groups(false)
	if gs == nil || err != nil {
		if err != nil {
			return err
		}
		return q.putJob(j)
	}
	g, err := q.group(groupName(j))
	if err != nil {
		return err
	}
	q.placeCursor()
	b := q.pl
	if b == nil {
		if b, err = q.root.CreateBucket(bucketPlaces); err != nil {
			return err
		}
		q.pl, q.plCur = b, b.Cursor()
		q.m.places = true
		q.dirty()
	}
	// Store IDs' keys append; caller-chosen ones split pages as any key
	// does.
	b.FillPercent = 1
	var kb [24]byte
	jk := q.t.keep(jobKey(j.ID, kb[:0]))
	n := uint32(min(g.ready+g.active, math.MaxUint32))
	pk := q.t.encode(func(buf []byte) []byte { return placeKey(n, jk, buf) })
	if err := q.put(b, jk, pk); err != nil {
		return err
	}
	q.lastID, q.lastKey = j.ID, append(q.lastKey[:0], pk...)
	return q.put(q.jobs, pk, encodeJob(q.t, j))
}

// dropPlace removes the place entry of the job with key jk, whose record
// lay at rk, once the record is gone.
func (q *qtx) dropPlace(jk, rk []byte) error {
	q.lastID = ""
	if len(rk) == 0 || rk[0] != placeTag {
		return nil
	}
	return q.delAt(q.placeCursor(), jk)
}
