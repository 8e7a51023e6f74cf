package bolt

import (
	"bytes"
	"slices"
)

// layoutCheck checks, bucket by bucket as checkFile walks a file, the
// layout that drover reads without checking: every top-level key named
// as a queue bucket ("q:…") is one, with all its sub-buckets (and the
// buckets a queue makes when it first needs them are buckets when
// present; other top-level keys are the application's, see OpenDB), the
// keys drover decodes as
// numbers (index and event keys) have their length, and each queue's
// meta record has its size. Job records, events and schedulers are
// checked when they are decoded.
type layoutCheck struct {
	// queues holds, for each queue bucket, a bit for each of its
	// sub-buckets seen (the index in queueBuckets).
	queues map[string]uint32
}

func newLayoutCheck() *layoutCheck {
	return &layoutCheck{queues: make(map[string]uint32)}
}

// rule is the layoutFunc of checkFile.
func (l *layoutCheck) rule(path [][]byte) keyRule {
	if len(path) > 0 && !bytes.HasPrefix(path[0], queuePrefix) {
		return nil // the application's own bucket (OpenDB): drover reads nothing in it
	}
	switch len(path) {
	case 0:
		return l.queue
	case 1:
		q := string(path[0])
		return func(k, _ []byte, bucket bool) error {
			i := slices.IndexFunc(queueBuckets, func(n []byte) bool { return bytes.Equal(n, k) })
			if (i >= 0 || optionalBucket(k)) && !bucket {
				return damage("queue bucket %q: %q is not a bucket", q, k)
			}
			if i >= 0 {
				l.queues[q] |= 1 << i
			}
			return nil // a key that is not drover's: it reads nothing below
		}
	case 2:
		return subBucketRule(path[0], path[1])
	}
	return nil
}

// queue checks a top-level key. Keys that are not drover's belong to an
// application that keeps its own buckets in the file (OpenDB).
func (l *layoutCheck) queue(k, _ []byte, bucket bool) error {
	if !bytes.HasPrefix(k, queuePrefix) {
		return nil
	}
	if !bucket {
		return damage("top-level key %q is not a queue bucket", k)
	}
	l.queues[string(k)] = 0
	return nil
}

// optionalBucket reports whether k names a sub-bucket that a queue makes
// when it first needs it: the deduplication keys, the jobs' metadata and
// the places of their records.
func optionalBucket(k []byte) bool {
	return bytes.Equal(k, bucketDedup) || bytes.Equal(k, bucketJobMeta) || bytes.Equal(k, bucketPlaces)
}

// subBucketRule returns the rule for the keys of sub-bucket sub of queue
// bucket q: none is a bucket, and index keys, event keys and the meta
// record have their sizes.
func subBucketRule(q, sub []byte) keyRule {
	if !optionalBucket(sub) && !slices.ContainsFunc(queueBuckets, func(n []byte) bool { return bytes.Equal(n, sub) }) {
		return nil
	}
	want := 0
	switch {
	case bytes.Equal(sub, bucketEvents):
		want = 8
	case bytes.Equal(sub, bucketMeta):
		return func(k, v []byte, bucket bool) error {
			if !bucket && bytes.Equal(k, metaKey) && len(v) == metaSize && v[0] != codecVersion && v[0] != placesFormat {
				// Another version's file, not a damaged one.
				return formatError(bytes.TrimPrefix(q, []byte("q:")), v[0])
			}
			if bucket || bytes.Equal(k, metaKey) && len(v) != metaSize {
				return damage("queue bucket %q: meta record %q of %d bytes", q, k, len(v))
			}
			return nil
		}
	}
	for s, n := range bucketIndex {
		if bytes.Equal(sub, n) {
			want = indexKeyLen(s)
		}
	}
	return func(k, _ []byte, bucket bool) error {
		if bucket {
			return damage("queue bucket %q: %s holds bucket %q", q, sub, k)
		}
		if want > 0 && len(k) != want {
			return damage("queue bucket %q: %s key of %d bytes, want %d", q, sub, len(k), want)
		}
		return nil
	}
}

// done reports a queue bucket that lacks a sub-bucket, once the walk is
// over.
func (l *layoutCheck) done() error {
	for q, seen := range l.queues {
		for i, n := range queueBuckets {
			if seen&(1<<i) == 0 {
				return damage("queue bucket %q has no %s bucket", q, n)
			}
		}
	}
	return nil
}
