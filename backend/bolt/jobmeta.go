package bolt

import (
	"go.etcd.io/bbolt"

	"github.com/droverhq/drover/backend"
)

// Job metadata (backend.Job.Meta) is kept apart from the job's record, in
// the queue's bucket "jobmeta" (job key → encoded metadata), which a
// queue has from its first job with metadata on. A record is written again
// at every move of its job, and read at every settle; metadata, usually a
// trace context, is written once, when the job is added, and read only
// where a job is handed out (Job, Jobs, Lease: see fill). Kept in the
// record, it would be written and decoded at every step of every job that
// carries it.
//
// Records written before the metadata moved out hold it inline, between
// the cancel mark and the deduplication key (see appendJob, which no
// longer writes it there). They read as before; a write transaction that
// reads one copies its metadata out (job), since the record's next write
// leaves it behind.
var bucketJobMeta = []byte("jobmeta")

// metaBucket returns the queue's metadata bucket, creating it when create
// is set (in a write transaction); nil when there is none.
func (q *qtx) metaBucket(create bool) (*bbolt.Bucket, error) {
	if q.jm == nil {
		q.jm = q.root.Bucket(bucketJobMeta)
	}
	if q.jm != nil || !create {
		return q.jm, nil
	}
	b, err := q.root.CreateBucket(bucketJobMeta)
	if err != nil {
		return nil, err
	}
	q.t.writes++
	q.jm = b
	return b, nil
}

// metaCursor returns the reused cursor of the metadata bucket, or nil
// when the queue has none.
func (q *qtx) metaCursor() *bbolt.Cursor {
	if q.jmCur == nil {
		if b, _ := q.metaBucket(false); b != nil {
			q.jmCur = b.Cursor()
		}
	}
	return q.jmCur
}

// putMeta writes the metadata of the job with key jk; none writes
// nothing.
func (q *qtx) putMeta(jk []byte, m map[string]string) error {
	if len(m) == 0 {
		return nil
	}
	b, err := q.metaBucket(true)
	if err != nil {
		return err
	}
	// Store-assigned IDs append; caller-chosen ones split pages as
	// any key does.
	b.FillPercent = 1
	v := q.t.encode(func(buf []byte) []byte {
		e := enc{b: append(buf, codecVersion)}
		appendMeta(&e, m)
		return e.b
	})
	return q.put(b, q.t.keep(jk), v)
}

// loadMeta sets the Meta of j from the metadata bucket, unless its record
// held it inline.
func (q *qtx) loadMeta(j *backend.Job) error {
	if j.Meta != nil {
		return nil
	}
	c := q.metaCursor()
	if c == nil {
		return nil
	}
	var kb [24]byte
	v := get(c, jobKey(j.ID, kb[:0]))
	if v == nil {
		return nil
	}
	d := dec{b: v}
	d.version()
	j.Meta = readMeta(&d)
	return d.end()
}

// dropMeta removes the metadata of the job with key jk, if it has any.
func (q *qtx) dropMeta(jk []byte) error {
	c := q.metaCursor()
	if c == nil {
		return nil
	}
	return q.delAt(c, jk)
}
