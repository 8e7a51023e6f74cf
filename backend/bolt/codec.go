package bolt

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/droverhq/drover/backend"
)

// Records are encoded in a compact binary form: a version byte, then the
// fields in a fixed order as varints, length-prefixed bytes and strings,
// and times (0 for the zero time, else 1 and the Unix nanoseconds).
// Decoders copy every slice out of the input, which bbolt owns.
//
// codecVersion is the format of every record, and so of the store: a file
// whose records have another version is refused at Open (checkFormat).
// Version 2 moved a flow parent's children out of its job record into the
// deps bucket. It gained trailing parts since, each written only when it
// (or a part after it) is not empty, so that records written without them
// read as before: a job's cancel mark, then its metadata (which records
// written since hold empty, see jobmeta.go), then its deduplication key,
// then its group; a published event's data, then a deduplicated
// event's key, then a group event's group; a scheduler template's metadata.
const codecVersion = 2

// errCorrupt reports a record that does not decode: bytes that drover did
// not write are in the file.
var errCorrupt = fmt.Errorf("%w: a record does not decode", backend.ErrCorrupt)

type enc struct{ b []byte }

func (e *enc) u(v uint64)        { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)         { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) n(v int)           { e.i(int64(v)) }
func (e *enc) d(v time.Duration) { e.i(int64(v)) }
func (e *enc) bytes(v []byte) {
	e.u(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) str(v string) {
	e.u(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.i(t.UnixNano())
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *dec) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) n() int {
	v := d.i()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *dec) dur() time.Duration { return time.Duration(d.i()) }

// length reads a length or count that must fit in the rest of the input.
func (d *dec) length() int {
	v := d.u()
	if v > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *dec) raw(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.length()
	if n == 0 {
		return nil
	}
	return append([]byte(nil), d.raw(n)...)
}

func (d *dec) str() string { return string(d.raw(d.length())) }

func (d *dec) byte1() byte {
	b := d.raw(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *dec) bool() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

func (d *dec) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	return time.Unix(0, d.i()).UTC()
}

func (d *dec) version() {
	if d.byte1() != codecVersion {
		d.fail()
	}
}

// more reports whether input is left to decode: an optional trailing
// part follows.
func (d *dec) more() bool { return d.err == nil && len(d.b) > 0 }

func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return d.err
}

// ---- jobs

func appendRetention(e *enc, r backend.Retention) {
	e.bool(r.Remove)
	e.n(r.Count)
	e.d(r.Age)
}

func readRetention(d *dec) backend.Retention {
	return backend.Retention{Remove: d.bool(), Count: d.n(), Age: d.dur()}
}

func appendBackoff(e *enc, b backend.Backoff) {
	e.str(string(b.Type))
	e.d(b.Delay)
	e.u(math.Float64bits(b.Jitter))
}

func readBackoff(d *dec) backend.Backoff {
	return backend.Backoff{Type: backend.BackoffType(d.str()), Delay: d.dur(), Jitter: math.Float64frombits(d.u())}
}

func appendJob(buf []byte, j *backend.Job) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.str(j.ID)
	e.str(j.Name)
	e.bytes(j.Data)
	e.b = append(e.b, byte(stateNum(j.State)))
	e.u(j.Seq)
	e.n(j.Priority)
	e.n(j.Attempts)
	e.n(j.AttemptsMade)
	e.n(j.StalledCount)
	appendBackoff(&e, j.Backoff)
	e.d(j.Timeout)
	appendRetention(&e, j.KeepCompleted)
	appendRetention(&e, j.KeepFailed)
	e.bytes(j.Progress)
	e.bytes(j.Result)
	e.str(j.FailedReason)
	e.u(uint64(len(j.Stacktrace)))
	for _, s := range j.Stacktrace {
		e.str(s)
	}
	e.n(j.LogCount)
	e.time(j.CreatedAt)
	e.time(j.RunAt)
	e.time(j.ProcessedAt)
	e.time(j.FinishedAt)
	e.str(j.Lease.Token)
	e.time(j.LeaseExpiresAt)
	e.str(j.Worker)
	e.str(j.SchedulerID)
	e.bool(j.Parent != nil)
	if j.Parent != nil {
		e.str(j.Parent.Queue)
		e.str(j.Parent.ID)
	}
	e.str(string(j.FailurePolicy))
	// Each trailing part is written when it or a later one is set.
	later := j.Group != ""
	later = later || j.DedupKey != ""
	if later || j.CancelRequested || j.CancelReason != "" {
		e.bool(j.CancelRequested)
		e.str(j.CancelReason)
	}
	if later {
		e.u(0) // no metadata: it is kept apart (jobmeta.go)
	}
	if later {
		e.str(j.DedupKey)
	}
	if j.Group != "" {
		e.str(j.Group)
	}
	return e.b
}

// appendMeta encodes job metadata: its count, then each key and value,
// in key order.
func appendMeta(e *enc, m map[string]string) {
	e.u(uint64(len(m)))
	// A record is encoded at every move of its job; the keys of a usual
	// Meta fit in buf, which stays on the stack.
	var buf [8]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

// readMeta decodes job metadata; none reads as nil.
func readMeta(d *dec) map[string]string {
	n := d.length()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	if d.err != nil {
		return nil
	}
	return m
}

func readState(d *dec) backend.JobState {
	s := int(d.byte1())
	if s >= numStates {
		d.fail()
		return ""
	}
	return stateNames[s]
}

// readIndexFields reads from a job record its ID (in v) and what its key
// in the waiting index is made of: its state number, priority and place.
func readIndexFields(v []byte) (id []byte, s, prio int, seq uint64, ok bool) {
	d := dec{b: v}
	d.version()
	id = d.raw(d.length())
	d.raw(d.length()) // name
	d.raw(d.length()) // data
	s = int(d.byte1())
	seq = d.u()
	prio = d.n()
	return id, s, prio, seq, d.err == nil && s < numStates
}

// decodeJob decodes a job record; Queue is left for the caller to set, and
// Children, ChildOutcomes and (but in older records) Meta, which the
// record does not hold, for fill.
func decodeJob(v []byte) (*backend.Job, error) {
	d := dec{b: v}
	d.version()
	j := &backend.Job{}
	j.ID = d.str()
	j.Name = d.str()
	j.Data = d.bytes()
	j.State = readState(&d)
	j.Seq = d.u()
	j.Priority = d.n()
	j.Attempts = d.n()
	j.AttemptsMade = d.n()
	j.StalledCount = d.n()
	j.Backoff = readBackoff(&d)
	j.Timeout = d.dur()
	j.KeepCompleted = readRetention(&d)
	j.KeepFailed = readRetention(&d)
	j.Progress = d.bytes()
	j.Result = d.bytes()
	j.FailedReason = d.str()
	if n := d.length(); n > 0 {
		j.Stacktrace = make([]string, n)
		for i := range j.Stacktrace {
			j.Stacktrace[i] = d.str()
		}
	}
	j.LogCount = d.n()
	j.CreatedAt = d.time()
	j.RunAt = d.time()
	j.ProcessedAt = d.time()
	j.FinishedAt = d.time()
	if tok := d.str(); tok != "" {
		j.Lease = backend.Lease{JobID: j.ID, Token: tok}
	}
	j.LeaseExpiresAt = d.time()
	j.Worker = d.str()
	j.SchedulerID = d.str()
	if d.bool() {
		j.Parent = &backend.JobRef{Queue: d.str(), ID: d.str()}
	}
	j.FailurePolicy = backend.FailurePolicy(d.str())
	if d.more() {
		j.CancelRequested = d.bool()
		j.CancelReason = d.str()
	}
	if d.more() {
		j.Meta = readMeta(&d)
	}
	if d.more() {
		j.DedupKey = d.str()
	}
	if d.more() {
		j.Group = d.str()
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return j, nil
}

// ---- flow dependencies

// appendDep encodes a parent's entry for one child: the child's place
// among the parent's children and, once the child ended, its outcome.
func appendDep(buf []byte, d *dep) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.n(d.pos)
	e.bool(d.done != nil)
	if o := d.done; o != nil {
		e.b = append(e.b, byte(stateNum(o.State)))
		e.bytes(o.Result)
		e.str(o.Reason)
		e.bool(o.Ignored)
	}
	return e.b
}

func decodeDep(v []byte) (dep, error) {
	d := dec{b: v}
	d.version()
	x := dep{pos: d.n()}
	if x.pos < 0 {
		d.fail()
	}
	if d.bool() {
		x.done = &backend.ChildOutcome{State: readState(&d), Result: d.bytes(), Reason: d.str(), Ignored: d.bool()}
	}
	return x, d.end()
}

// appendPending encodes the number of a parent's children still pending.
func appendPending(buf []byte, n int) []byte {
	e := enc{b: append(buf, codecVersion)}
	e.n(n)
	return e.b
}

func decodePending(v []byte) (int, error) {
	d := dec{b: v}
	d.version()
	n := d.n()
	if n < 0 {
		d.fail()
	}
	return n, d.end()
}

// encodeJob encodes j into memory that stays valid for the transaction.
func encodeJob(t *txn, j *backend.Job) []byte {
	return t.encode(func(b []byte) []byte { return appendJob(b, j) })
}

// ---- events

// appendEvent encodes an event; the time comes first, at a fixed place, so
// that trimming by age reads it without decoding the rest.
func appendEvent(buf []byte, ev *backend.Event) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(ev.Time.UnixNano()))
	e.str(string(ev.Type))
	e.str(ev.JobID)
	e.str(ev.Name)
	e.n(ev.AttemptsMade)
	e.bytes(ev.Result)
	e.str(ev.Reason)
	e.bytes(ev.Progress)
	e.time(ev.RunAt)
	e.str(ev.SchedulerID)
	e.n(ev.Count)
	if len(ev.Data) > 0 || ev.Key != "" || ev.Group != "" {
		e.bytes(ev.Data)
	}
	if ev.Key != "" || ev.Group != "" {
		e.str(ev.Key)
	}
	if ev.Group != "" {
		e.str(ev.Group)
	}
	return e.b
}

// eventTime reads the time of an encoded event.
func eventTime(v []byte) (time.Time, bool) {
	if len(v) < 9 || v[0] != codecVersion {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))).UTC(), true
}

// eventType reads the type of an encoded event and nothing after it.
// known holds the types read so far, one of which it returns rather than
// make another copy.
func eventType(v []byte, known *[]backend.EventType) (backend.EventType, error) {
	if _, ok := eventTime(v); !ok {
		return "", errCorrupt
	}
	d := dec{b: v[9:]}
	b := d.raw(d.length())
	if d.err != nil {
		return "", d.err
	}
	for _, t := range *known {
		if string(t) == string(b) {
			return t, nil
		}
	}
	t := backend.EventType(b)
	*known = append(*known, t)
	return t, nil
}

// decodeEvent decodes an event; ID is left for the caller to set.
func decodeEvent(v []byte) (backend.Event, error) {
	var ev backend.Event
	tm, ok := eventTime(v)
	if !ok {
		return ev, errCorrupt
	}
	d := dec{b: v[9:]}
	ev.Time = tm
	ev.Type = backend.EventType(d.str())
	ev.JobID = d.str()
	ev.Name = d.str()
	ev.AttemptsMade = d.n()
	ev.Result = d.bytes()
	ev.Reason = d.str()
	ev.Progress = d.bytes()
	ev.RunAt = d.time()
	ev.SchedulerID = d.str()
	ev.Count = d.n()
	if d.more() {
		ev.Data = d.bytes()
	}
	if d.more() {
		ev.Key = d.str()
	}
	if d.more() {
		ev.Group = d.str()
	}
	return ev, d.end()
}

// ---- schedulers

func appendNewJob(e *enc, j *backend.NewJob) {
	e.str(j.Name)
	e.bytes(j.Data)
	e.n(j.Priority)
	e.n(j.Attempts)
	appendBackoff(e, j.Backoff)
	e.d(j.Timeout)
	appendRetention(e, j.KeepCompleted)
	appendRetention(e, j.KeepFailed)
	e.str(string(j.FailurePolicy))
}

func readNewJob(d *dec) backend.NewJob {
	return backend.NewJob{
		Name: d.str(), Data: d.bytes(), Priority: d.n(), Attempts: d.n(), Backoff: readBackoff(d),
		Timeout: d.dur(), KeepCompleted: readRetention(d), KeepFailed: readRetention(d),
		FailurePolicy: backend.FailurePolicy(d.str()),
	}
}

func appendScheduler(buf []byte, s *backend.Scheduler) []byte {
	e := enc{b: buf}
	e.b = append(e.b, codecVersion)
	e.str(s.ID)
	e.u(s.Revision)
	e.bytes(s.Repeat)
	appendNewJob(&e, &s.Template)
	e.n(s.Iterations)
	e.time(s.Next)
	e.u(uint64(len(s.Upcoming)))
	for _, t := range s.Upcoming {
		e.time(t)
	}
	e.bool(s.Final)
	e.time(s.UpdatedAt)
	if len(s.Template.Meta) > 0 {
		appendMeta(&e, s.Template.Meta)
	}
	return e.b
}

func decodeScheduler(v []byte) (*backend.Scheduler, error) {
	d := dec{b: v}
	d.version()
	s := &backend.Scheduler{}
	s.ID = d.str()
	s.Revision = d.u()
	s.Repeat = d.bytes()
	s.Template = readNewJob(&d)
	s.Iterations = d.n()
	s.Next = d.time()
	if n := d.length(); n > 0 {
		s.Upcoming = make([]time.Time, n)
		for i := range s.Upcoming {
			s.Upcoming[i] = d.time()
		}
	}
	s.Final = d.bool()
	s.UpdatedAt = d.time()
	if d.more() {
		s.Template.Meta = readMeta(&d)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// ---- meta

const metaSize = 1 + 8 + 8 + 1 + numStates*8 + 8 + 8

func encodeMeta(b []byte, m *meta) []byte {
	b = append(b[:0], codecVersion)
	if m.places {
		b[0] = placesFormat
	}
	b = binary.BigEndian.AppendUint64(b, m.seq)
	b = binary.BigEndian.AppendUint64(b, m.lastEvent)
	if m.paused {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, c := range m.counts {
		b = binary.BigEndian.AppendUint64(b, uint64(c))
	}
	b = binary.BigEndian.AppendUint64(b, m.back)
	return binary.BigEndian.AppendUint64(b, m.front)
}

// decodeMeta decodes a meta record; a missing or malformed one reads as
// the zero meta.
func decodeMeta(v []byte) meta {
	var m meta
	if len(v) != metaSize || v[0] != codecVersion && v[0] != placesFormat {
		return m
	}
	m.places = v[0] == placesFormat
	m.seq = binary.BigEndian.Uint64(v[1:])
	m.lastEvent = binary.BigEndian.Uint64(v[9:])
	m.paused = v[17] == 1
	for i := range m.counts {
		m.counts[i] = int64(binary.BigEndian.Uint64(v[18+8*i:]))
	}
	o := 18 + 8*numStates
	m.back = binary.BigEndian.Uint64(v[o:])
	m.front = binary.BigEndian.Uint64(v[o+8:])
	return m
}

// encode runs fn on the transaction's scratch buffer and copies the result
// into transaction-lived memory.
func (t *txn) encode(fn func([]byte) []byte) []byte {
	t.scratch = fn(t.scratch[:0])
	return t.keep(t.scratch)
}

// keep copies b into transaction-lived memory, as bbolt needs of the keys
// and values given to Put.
func (t *txn) keep(b []byte) []byte {
	v := t.alloc(len(b))
	copy(v, b)
	return v
}
