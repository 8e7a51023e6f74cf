package redis

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

// Records are lists of length-prefixed fields, "<len>:<bytes>" one after
// the other, so that Lua scripts and Go read the same bytes without any
// other codec; a record leaves out its trailing empty fields, and an empty
// field is the default of its kind ("" or 0). Field positions are those
// of internal/layout, which the scripts read from lua/layout.lua.

func appendField(b []byte, v string) []byte {
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	return append(b, v...)
}

// encode encodes fields as a record, leaving out the trailing empty ones.
func encode(fields ...string) string {
	for len(fields) > 0 && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	return encodeList(fields)
}

// decode splits a record into its fields.
func decode(s string) ([]string, error) {
	var out []string
	for len(s) > 0 {
		v, rest, err := nextField(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		s = rest
	}
	return out, nil
}

// decodeN splits a record of at most n fields, padded to n with "".
func decodeN(s string, n int) ([]string, error) {
	f := make([]string, n)
	return f, decodeInto(s, f)
}

// decodeInto splits a record into f, whose length is the most fields it
// may have; the fields it does not have are left as they are.
func decodeInto(s string, f []string) error {
	for i := 0; len(s) > 0; i++ {
		if i == len(f) {
			return fmt.Errorf("drover: corrupt record: more than %d fields", len(f))
		}
		v, rest, err := nextField(s)
		if err != nil {
			return err
		}
		f[i], s = v, rest
	}
	return nil
}

// nextField splits the first length-prefixed field off s.
func nextField(s string) (field, rest string, err error) {
	c := strings.IndexByte(s, ':')
	if c <= 0 {
		return "", "", fmt.Errorf("drover: corrupt record: no length")
	}
	n, err := strconv.Atoi(s[:c])
	if err != nil || n < 0 || n > len(s)-c-1 || strconv.Itoa(n) != s[:c] {
		return "", "", fmt.Errorf("drover: corrupt record: bad length %q", s[:c])
	}
	return s[c+1 : c+1+n], s[c+1+n:], nil
}

// num is the decimal of a numeric field: "" for 0, its default.
func num(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func ms(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return itoa(t.UnixMilli())
}

func fromMs(s string) time.Time {
	n := atoi(s)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func encodeRetention(r backend.Retention) string {
	rm := ""
	if r.Remove {
		rm = "1"
	}
	return encode(rm, num(int64(r.Count)), num(r.Age.Milliseconds()))
}

func decodeRetention(s string) backend.Retention {
	var f [3]string
	if err := decodeInto(s, f[:]); err != nil {
		return backend.Retention{}
	}
	return backend.Retention{Remove: f[0] == "1", Count: int(atoi(f[1])), Age: time.Duration(atoi(f[2])) * time.Millisecond}
}

// encodeList encodes a list, every item kept.
func encodeList(l []string) string {
	n := 0
	for _, f := range l {
		n += len(f) + 4
	}
	b := make([]byte, 0, n)
	for _, f := range l {
		b = appendField(b, f)
	}
	return string(b)
}

func parseRef(s string) backend.JobRef {
	q, id, _ := strings.Cut(s, "\n")
	return backend.JobRef{Queue: q, ID: id}
}

// jobHead encodes the start of a new job's record: its name and data.
func jobHead(j *backend.NewJob) string {
	b := make([]byte, 0, len(j.Name)+len(j.Data)+8)
	b = appendField(b, j.Name)
	return string(appendField(b, string(j.Data)))
}

// jobOpts encodes the fields of a new job's record from JobPriority on:
// its options, which the add script puts after the fields it sets.
func jobOpts(j *backend.NewJob, schedulerID string) string {
	var f [layout.NumJobFields]string
	f[layout.JobPriority] = num(int64(j.Priority))
	f[layout.JobAttempts] = num(int64(j.Attempts))
	if j.Backoff != (backend.Backoff{}) {
		jitter := ""
		if j.Backoff.Jitter != 0 {
			jitter = strconv.FormatFloat(j.Backoff.Jitter, 'g', -1, 64)
		}
		f[layout.JobBackoff] = encode(string(j.Backoff.Type), num(j.Backoff.Delay.Milliseconds()), jitter)
	}
	f[layout.JobTimeout] = num(j.Timeout.Milliseconds())
	f[layout.JobKeepCompleted] = encodeRetention(j.KeepCompleted)
	f[layout.JobKeepFailed] = encodeRetention(j.KeepFailed)
	f[layout.JobPolicy] = string(j.FailurePolicy)
	f[layout.JobScheduler] = schedulerID
	f[layout.JobMeta] = encodeMeta(j.Meta)
	f[layout.JobDedup] = j.Dedup.Key
	f[layout.JobGroup] = j.Group
	return encode(f[layout.JobPriority:]...)
}

// encodeMeta encodes job metadata as a list of keys and values, in key
// order; none is "".
func encodeMeta(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	l := make([]string, 0, 2*len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l = append(l, k, m[k])
	}
	return encodeList(l)
}

// decodeMeta decodes the metadata field of a job record.
func decodeMeta(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	l, err := decode(s)
	if err != nil {
		return nil, err
	}
	if len(l)%2 != 0 {
		return nil, fmt.Errorf("drover: corrupt record: metadata of %d items", len(l))
	}
	m := make(map[string]string, len(l)/2)
	for i := 0; i < len(l); i += 2 {
		m[l[i]] = l[i+1]
	}
	return m, nil
}

var stateOfCode = func() map[string]backend.JobState {
	m := make(map[string]backend.JobState, len(layout.StateCodes))
	for s, c := range layout.StateCodes {
		m[c] = s
	}
	return m
}()

// decodeJob turns a job's records into a Job: rec is its job record, hot
// its hot record ("" for a waiting job nothing has touched), kids what
// the deps hash says of its children (see children in flows.lua).
func decodeJob(queue, id, rec, hot, kids string) (*backend.Job, error) {
	j, err := decodeRecords(queue, id, rec, hot, kids)
	if err != nil {
		return nil, fmt.Errorf("%w (job %s)", err, id)
	}
	return j, nil
}

func decodeRecords(queue, id, rec, hot, kids string) (*backend.Job, error) {
	var f [layout.NumJobFields]string
	if err := decodeInto(rec, f[:]); err != nil {
		return nil, err
	}
	var h [layout.NumHotFields]string
	if err := decodeInto(hot, h[:]); err != nil {
		return nil, err
	}
	state := backend.StateWaiting
	if c := h[layout.HotState]; c != "" {
		s, ok := stateOfCode[c]
		if !ok {
			return nil, fmt.Errorf("drover: corrupt record: state %q", c)
		}
		state = s
	}
	j := &backend.Job{
		Queue:         queue,
		ID:            id,
		Name:          f[layout.JobName],
		Data:          bytesOf(f[layout.JobData]),
		State:         state,
		Seq:           uint64(atoi(f[layout.JobSeq])),
		Priority:      int(atoi(f[layout.JobPriority])),
		Attempts:      max(int(atoi(f[layout.JobAttempts])), 1), // 0 is the default, one attempt
		Timeout:       time.Duration(atoi(f[layout.JobTimeout])) * time.Millisecond,
		KeepCompleted: decodeRetention(f[layout.JobKeepCompleted]),
		KeepFailed:    decodeRetention(f[layout.JobKeepFailed]),
		CreatedAt:     fromMs(f[layout.JobCreated]),
		SchedulerID:   f[layout.JobScheduler],
		DedupKey:      f[layout.JobDedup],
		Group:         f[layout.JobGroup],
		FailurePolicy: backend.FailurePolicy(f[layout.JobPolicy]),

		AttemptsMade: int(atoi(h[layout.HotMade])),
		StalledCount: int(atoi(h[layout.HotStalled])),
		Progress:     bytesOf(h[layout.HotProgress]),
		Result:       bytesOf(h[layout.HotResult]),
		FailedReason: h[layout.HotReason],
		LogCount:     int(atoi(h[layout.HotLogs])),
		RunAt:        fromMs(h[layout.HotRunAt]),
		ProcessedAt:  fromMs(h[layout.HotProcessed]),
		FinishedAt:   fromMs(h[layout.HotFinished]),
		Worker:       h[layout.HotWorker],

		CancelRequested: h[layout.HotCancel] == "1",
		CancelReason:    h[layout.HotCancelReason],
	}
	meta, err := decodeMeta(f[layout.JobMeta])
	if err != nil {
		return nil, err
	}
	j.Meta = meta
	if j.Seq == 0 {
		// A store-assigned ID is the job's number.
		j.Seq = uint64(atoi(id))
	}
	var b [3]string
	if err := decodeInto(f[layout.JobBackoff], b[:]); err == nil && b[0] != "" {
		j.Backoff.Type = backend.BackoffType(b[0])
		j.Backoff.Delay = time.Duration(atoi(b[1])) * time.Millisecond
		j.Backoff.Jitter, _ = strconv.ParseFloat(b[2], 64)
	}
	if h[layout.HotStack] != "" {
		j.Stacktrace, _ = decode(h[layout.HotStack])
	}
	if state == backend.StateActive {
		j.Lease = backend.Lease{JobID: id, Token: h[layout.HotToken]}
		j.LeaseExpiresAt = fromMs(h[layout.HotLeaseExpires])
	}
	if f[layout.JobParentID] != "" {
		j.Parent = &backend.JobRef{Queue: f[layout.JobParentQueue], ID: f[layout.JobParentID]}
	}
	if f[layout.JobChildren] != "" {
		if err := addChildren(j, f[layout.JobChildren], kids); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// addChildren fills in a parent's Children and ChildOutcomes from its list
// of children and what the deps hash says of each: "x" dropped, "p"
// pending, "e" and the outcome.
func addChildren(j *backend.Job, list, kids string) error {
	refs, err := decode(list)
	if err != nil {
		return err
	}
	deps, err := decode(kids)
	if err != nil {
		return err
	}
	if len(deps) != len(refs) {
		return fmt.Errorf("drover: corrupt record: %d children, %d dependencies", len(refs), len(deps))
	}
	for i, r := range refs {
		d := deps[i]
		if d == "x" {
			continue // dropped
		}
		ref := parseRef(r)
		j.Children = append(j.Children, ref)
		if !strings.HasPrefix(d, "e") {
			continue
		}
		o, err := decodeN(d[1:], layout.NumOutcomeFields)
		if err != nil {
			return err
		}
		if j.ChildOutcomes == nil {
			j.ChildOutcomes = make(map[string]backend.ChildOutcome)
		}
		j.ChildOutcomes[ref.String()] = backend.ChildOutcome{
			State:   stateOfCode[o[layout.OutcomeState]],
			Result:  bytesOf(o[layout.OutcomeResult]),
			Reason:  o[layout.OutcomeReason],
			Ignored: o[layout.OutcomeIgnored] == "1",
		}
	}
	return nil
}

// encodeScheduler encodes a scheduler record for the upsert script, which
// sets its revision, iteration count and update time.
func encodeScheduler(s *backend.Scheduler) string {
	up := make([]string, len(s.Upcoming))
	for i, t := range s.Upcoming {
		up[i] = ms(t)
	}
	final := ""
	if s.Final {
		final = "1"
	}
	var f [layout.NumSchedFields]string
	f[layout.SchedID] = s.ID
	f[layout.SchedRepeat] = string(s.Repeat)
	f[layout.SchedTemplate] = encodeTemplate(&s.Template, s.ID)
	f[layout.SchedNext] = ms(s.Next)
	f[layout.SchedUpcoming] = encodeList(up)
	f[layout.SchedFinal] = final
	return encode(f[:]...)
}

// encodeTemplate encodes a scheduler's template as the job record of its
// iterations, but for the fields the store sets.
func encodeTemplate(t *backend.NewJob, schedulerID string) string {
	var f [layout.NumJobFields]string
	f[layout.JobName] = t.Name
	f[layout.JobData] = string(t.Data)
	opts, _ := decode(jobOpts(t, schedulerID))
	copy(f[layout.JobPriority:], opts)
	return encode(f[:]...)
}

func decodeScheduler(rec string) (*backend.Scheduler, error) {
	f, err := decodeN(rec, layout.NumSchedFields)
	if err != nil {
		return nil, err
	}
	if f[layout.SchedID] == "" || f[layout.SchedTemplate] == "" {
		return nil, fmt.Errorf("drover: corrupt scheduler record: no ID or template")
	}
	tj, err := decodeRecords("", "", f[layout.SchedTemplate], "", "")
	if err != nil {
		return nil, fmt.Errorf("drover: corrupt scheduler template: %w", err)
	}
	s := &backend.Scheduler{
		ID:         f[layout.SchedID],
		Revision:   uint64(atoi(f[layout.SchedRevision])),
		Repeat:     bytesOf(f[layout.SchedRepeat]),
		Iterations: int(atoi(f[layout.SchedIterations])),
		Next:       fromMs(f[layout.SchedNext]),
		Final:      f[layout.SchedFinal] == "1",
		UpdatedAt:  fromMs(f[layout.SchedUpdated]),
		Template: backend.NewJob{
			Name:          tj.Name,
			Data:          tj.Data,
			Priority:      tj.Priority,
			Attempts:      tj.Attempts,
			Backoff:       tj.Backoff,
			Timeout:       tj.Timeout,
			KeepCompleted: tj.KeepCompleted,
			KeepFailed:    tj.KeepFailed,
			FailurePolicy: tj.FailurePolicy,
			Meta:          tj.Meta,
		},
	}
	up, err := decode(f[layout.SchedUpcoming])
	if err != nil {
		return nil, err
	}
	for _, u := range up {
		s.Upcoming = append(s.Upcoming, fromMs(u))
	}
	return s, nil
}

var typeOfCode = func() map[byte]backend.EventType {
	m := make(map[byte]backend.EventType, len(layout.EventCodes))
	for t, c := range layout.EventCodes {
		m[c[0]] = t
	}
	return m
}()

// decodeEntry appends to evs the events of one stream entry whose last
// event has ID last (see entryEvents), those with an ID above after, at
// most max in all.
func decodeEntry(evs []backend.Event, last uint64, fields []any, after uint64, max int) ([]backend.Event, error) {
	var (
		xerr error
		at   time.Time // the entry's time, read at its first event
	)
	err := entryEvents(last, fields, after, func(id uint64, typ backend.EventType, ts string, f *[4]string) bool {
		if len(evs) >= max {
			return false
		}
		if at.IsZero() {
			at = fromMs(ts)
		}
		e := backend.Event{ID: id, Type: typ, Time: at, JobID: f[0], Name: f[1], AttemptsMade: int(atoi(f[2]))}
		if f[3] != "" {
			x, err := decodeN(f[3], layout.NumEventExtras)
			if err != nil {
				xerr = fmt.Errorf("drover: corrupt event %d: %w", id, err)
				return false
			}
			e.Result = bytesOf(x[layout.EventExtraResult])
			e.Reason = x[layout.EventExtraReason]
			e.Progress = bytesOf(x[layout.EventExtraProgress])
			e.RunAt = fromMs(x[layout.EventExtraRunAt])
			e.SchedulerID = x[layout.EventExtraScheduler]
			e.Count = int(atoi(x[layout.EventExtraCount]))
			e.Data = bytesOf(x[layout.EventExtraData])
			e.Key = x[layout.EventExtraKey]
			e.Group = x[layout.EventExtraGroup]
		}
		evs = append(evs, e)
		return true
	})
	return evs, cmp.Or(err, xerr)
}

// entryEvents calls fn, until it returns false, for each event with an ID
// above after of one stream entry whose last event has ID last (see
// events.lua in lua/parts): fields ts (the time of its events), c (their
// count) and d (the events, each a type code byte and the
// length-prefixed job ID, name, attempts made and x, the record of the
// extra fields). fn gets the event's ID, type, the entry's ts and the
// four fields, which it may keep.
func entryEvents(last uint64, fields []any, after uint64, fn func(id uint64, typ backend.EventType, ts string, f *[4]string) bool) error {
	var ts string
	var count uint64
	var data string
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		switch k {
		case "ts":
			ts = v
		case "c":
			count = uint64(atoi(v))
		case "d":
			data = v
		}
	}
	if count == 0 || count > last {
		return fmt.Errorf("drover: corrupt event entry %d: count %d", last, count)
	}
	id := last - count
	for range count {
		id++
		if data == "" {
			return fmt.Errorf("drover: corrupt event %d: short entry", id)
		}
		typ, ok := typeOfCode[data[0]]
		if !ok {
			return fmt.Errorf("drover: corrupt event %d: type %q", id, data[0])
		}
		var f [4]string
		rest := data[1:]
		for k := range f {
			v, r, err := nextField(rest)
			if err != nil {
				return fmt.Errorf("drover: corrupt event %d: %w", id, err)
			}
			f[k], rest = v, r
		}
		data = rest
		if id > after && !fn(id, typ, ts, &f) {
			break
		}
	}
	return nil
}
