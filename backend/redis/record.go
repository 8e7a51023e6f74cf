package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
)

// Records are lists of length-prefixed fields, "<len>:<bytes>" one after
// the other, so that Lua scripts and Go read the same bytes without any
// other codec. Field positions match lib.lua.
const (
	fState = iota
	fSeq
	fCreated
	fRunAt
	fParentQueue
	fParentID
	fKids
	fPending
	fName
	fData
	fPriority
	fAttempts
	fMade
	fStalled
	fBackoff
	fTimeout
	fKeepCompleted
	fKeepFailed
	fProgress
	fResult
	fReason
	fStack
	fLogs
	fProcessed
	fFinished
	fToken
	fLeaseExp
	fWorker
	fScheduler
	fPolicy
	fOutcomes
	numJobFields
)

const (
	sID = iota
	sRevision
	sRepeat
	sTail
	sPriority
	sLimit
	sIterations
	sNext
	sUpcoming
	sFinal
	sUpdated
	numSchedFields
)

func appendField(b []byte, v string) []byte {
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	return append(b, v...)
}

func encode(fields ...string) string {
	n := 0
	for _, f := range fields {
		n += len(f) + 4
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = appendField(b, f)
	}
	return string(b)
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

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func ms(t time.Time) string {
	if t.IsZero() {
		return "0"
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
	return encode(rm, itoa(int64(r.Count)), itoa(r.Age.Milliseconds()))
}

func decodeRetention(s string) backend.Retention {
	f, _ := decode(s)
	if len(f) < 3 {
		return backend.Retention{}
	}
	return backend.Retention{Remove: f[0] == "1", Count: int(atoi(f[1])), Age: time.Duration(atoi(f[2])) * time.Millisecond}
}

func encodeList(l []string) string { return encode(l...) }

func parseRef(s string) backend.JobRef {
	q, id, _ := strings.Cut(s, "\n")
	return backend.JobRef{Queue: q, ID: id}
}

// A job record is a fixed-width header followed by length-prefixed body
// fields, so that the lease and settle scripts rewrite the fields that
// change on every attempt by splicing strings instead of decoding the whole
// record. The header: a state code, a flags digit (1 scheduler, 2 parent,
// 4 retention other than keep all: jobs without flags take the scripts'
// fast paths), attempts made and stalled count (10 digits each), then run
// at, processed at, finished at and lease expiry (14 digits each, ms).
const hdrLen = 2 + 2*10 + 4*14

// bodyOrder lists the body fields in stored order.
var bodyOrder = [...]int{fToken, fWorker, fName, fResult, fSeq, fCreated, fParentQueue, fParentID, fKids, fPending,
	fData, fPriority, fAttempts, fBackoff, fTimeout, fKeepCompleted, fKeepFailed, fProgress, fReason, fStack, fLogs,
	fScheduler, fPolicy, fOutcomes}

// tailOrder lists the fields of a job tail after its flags digit: the
// body fields that the Go side sets for a new job, name first.
var tailOrder = [...]int{fName, fData, fPriority, fAttempts, fBackoff, fTimeout, fKeepCompleted, fKeepFailed,
	fProgress, fReason, fStack, fLogs, fScheduler, fPolicy, fOutcomes}

var stateCodes = map[byte]backend.JobState{
	'w': backend.StateWaiting, 'd': backend.StateDelayed, 'a': backend.StateActive,
	'c': backend.StateCompleted, 'f': backend.StateFailed, 'p': backend.StateWaitingChildren,
}

var keepAll = encodeRetention(backend.Retention{})

// jobTail encodes the fields of a new job that its add script does not
// set: a flags digit, then the fields of tailOrder.
func jobTail(j *backend.NewJob, schedulerID string) string {
	var f [numJobFields]string
	f[fName] = j.Name
	f[fData] = string(j.Data)
	f[fPriority] = itoa(int64(j.Priority))
	f[fAttempts] = itoa(int64(j.Attempts))
	f[fBackoff] = encode(string(j.Backoff.Type), itoa(j.Backoff.Delay.Milliseconds()), strconv.FormatFloat(j.Backoff.Jitter, 'g', -1, 64))
	f[fTimeout] = itoa(j.Timeout.Milliseconds())
	f[fKeepCompleted] = encodeRetention(j.KeepCompleted)
	f[fKeepFailed] = encodeRetention(j.KeepFailed)
	f[fLogs] = "0"
	f[fScheduler] = schedulerID
	f[fPolicy] = string(j.FailurePolicy)
	flags := byte('0')
	if schedulerID != "" {
		flags++
	}
	if f[fKeepCompleted] != keepAll || f[fKeepFailed] != keepAll {
		flags += 4
	}
	b := make([]byte, 0, 64+len(j.Data)+len(j.Name))
	b = append(b, flags)
	for _, k := range tailOrder {
		b = appendField(b, f[k])
	}
	return string(b)
}

// splitJob splits a stored record into its fields, numbers as decimals.
func splitJob(rec string) ([numJobFields]string, error) {
	var f [numJobFields]string
	if len(rec) < hdrLen {
		return f, fmt.Errorf("drover: corrupt record: short header")
	}
	st, ok := stateCodes[rec[0]]
	if !ok {
		return f, fmt.Errorf("drover: corrupt record: state %q", rec[0])
	}
	f[fState] = string(st)
	pos := 2
	for _, h := range [...]struct{ field, width int }{{fMade, 10}, {fStalled, 10}, {fRunAt, 14}, {fProcessed, 14}, {fFinished, 14}, {fLeaseExp, 14}} {
		n, err := strconv.ParseInt(rec[pos:pos+h.width], 10, 64)
		if err != nil {
			return f, fmt.Errorf("drover: corrupt record: header: %w", err)
		}
		f[h.field] = itoa(n)
		pos += h.width
	}
	body, err := decode(rec[hdrLen:])
	if err != nil {
		return f, err
	}
	if len(body) != len(bodyOrder) {
		return f, fmt.Errorf("drover: corrupt record: %d body fields", len(body))
	}
	for i, k := range bodyOrder {
		f[k] = body[i]
	}
	return f, nil
}

// decodeJob turns a stored record into a Job.
func decodeJob(queue, id, rec string) (*backend.Job, error) {
	f, err := splitJob(rec)
	if err != nil {
		return nil, fmt.Errorf("%w (job %s)", err, id)
	}
	return jobOf(queue, id, &f), nil
}

// jobOf builds a Job from its fields.
func jobOf(queue, id string, f *[numJobFields]string) *backend.Job {
	j := &backend.Job{
		Queue:         queue,
		ID:            id,
		Name:          f[fName],
		Data:          bytesOf(f[fData]),
		State:         backend.JobState(f[fState]),
		Seq:           uint64(atoi(f[fSeq])),
		Priority:      int(atoi(f[fPriority])),
		Attempts:      max(int(atoi(f[fAttempts])), 1), // 0 is the default, one attempt
		AttemptsMade:  int(atoi(f[fMade])),
		StalledCount:  int(atoi(f[fStalled])),
		Timeout:       time.Duration(atoi(f[fTimeout])) * time.Millisecond,
		KeepCompleted: decodeRetention(f[fKeepCompleted]),
		KeepFailed:    decodeRetention(f[fKeepFailed]),
		Progress:      bytesOf(f[fProgress]),
		Result:        bytesOf(f[fResult]),
		FailedReason:  f[fReason],
		LogCount:      int(atoi(f[fLogs])),
		CreatedAt:     fromMs(f[fCreated]),
		RunAt:         fromMs(f[fRunAt]),
		ProcessedAt:   fromMs(f[fProcessed]),
		FinishedAt:    fromMs(f[fFinished]),
		Worker:        f[fWorker],
		SchedulerID:   f[fScheduler],
		FailurePolicy: backend.FailurePolicy(f[fPolicy]),
	}
	if b, _ := decode(f[fBackoff]); len(b) == 3 {
		j.Backoff.Type = backend.BackoffType(b[0])
		j.Backoff.Delay = time.Duration(atoi(b[1])) * time.Millisecond
		j.Backoff.Jitter, _ = strconv.ParseFloat(b[2], 64)
	}
	if f[fStack] != "" {
		j.Stacktrace, _ = decode(f[fStack])
	}
	if j.State == backend.StateActive {
		j.Lease = backend.Lease{JobID: id, Token: f[fToken]}
		j.LeaseExpiresAt = fromMs(f[fLeaseExp])
	}
	if f[fParentID] != "" {
		j.Parent = &backend.JobRef{Queue: f[fParentQueue], ID: f[fParentID]}
	}
	kids, _ := decode(f[fKids])
	for _, k := range kids {
		j.Children = append(j.Children, parseRef(k))
	}
	outc, _ := decode(f[fOutcomes])
	for i := 0; i+4 < len(outc); i += 5 {
		if j.ChildOutcomes == nil {
			j.ChildOutcomes = make(map[string]backend.ChildOutcome)
		}
		j.ChildOutcomes[parseRef(outc[i]).String()] = backend.ChildOutcome{
			State:   backend.JobState(outc[i+1]),
			Result:  bytesOf(outc[i+2]),
			Reason:  outc[i+3],
			Ignored: outc[i+4] == "1",
		}
	}
	return j
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
	f := make([]string, numSchedFields)
	f[sID] = s.ID
	f[sRevision] = "0"
	f[sRepeat] = string(s.Repeat)
	f[sTail] = jobTail(&s.Template, s.ID)
	f[sPriority] = itoa(int64(s.Template.Priority))
	f[sLimit] = itoa(int64(s.Limit))
	f[sIterations] = "0"
	f[sNext] = ms(s.Next)
	f[sUpcoming] = encodeList(up)
	f[sFinal] = final
	f[sUpdated] = "0"
	return encode(f...)
}

func decodeScheduler(rec string) (*backend.Scheduler, error) {
	f, err := decode(rec)
	if err != nil {
		return nil, err
	}
	if len(f) != numSchedFields {
		return nil, fmt.Errorf("drover: corrupt scheduler record: %d fields", len(f))
	}
	tail := f[sTail]
	if tail == "" {
		return nil, fmt.Errorf("drover: corrupt scheduler record: no template")
	}
	tf, err := decode(tail[1:])
	if err != nil {
		return nil, err
	}
	if len(tf) != len(tailOrder) {
		return nil, fmt.Errorf("drover: corrupt scheduler template: %d fields", len(tf))
	}
	var jf [numJobFields]string
	for i, k := range tailOrder {
		jf[k] = tf[i]
	}
	tj := jobOf("", "", &jf)
	s := &backend.Scheduler{
		ID:         f[sID],
		Revision:   uint64(atoi(f[sRevision])),
		Repeat:     bytesOf(f[sRepeat]),
		Limit:      int(atoi(f[sLimit])),
		Iterations: int(atoi(f[sIterations])),
		Next:       fromMs(f[sNext]),
		Final:      f[sFinal] == "1",
		UpdatedAt:  fromMs(f[sUpdated]),
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
		},
	}
	up, _ := decode(f[sUpcoming])
	for _, u := range up {
		s.Upcoming = append(s.Upcoming, fromMs(u))
	}
	return s, nil
}

// eventTypes maps the type codes of stored events (EV_CODE in lib.lua).
var eventTypes = map[byte]backend.EventType{
	'a': backend.EventAdded, 'w': backend.EventWaiting, 'd': backend.EventDelayed, 'p': backend.EventPrioritized,
	'A': backend.EventActive, 'g': backend.EventProgress, 'c': backend.EventCompleted, 'f': backend.EventFailed,
	'r': backend.EventRetrying, 's': backend.EventStalled, 'x': backend.EventRemoved, 'u': backend.EventDuplicated,
	'W': backend.EventWaitingChildren, 'P': backend.EventPaused, 'R': backend.EventResumed, 'D': backend.EventDrained,
	'C': backend.EventCleaned, 'S': backend.EventSchedulerUpserted, 'X': backend.EventSchedulerRemoved,
}

// decodeEntry appends to evs the events of one stream entry whose last
// event has ID last (see emit in lib.lua): fields ts (time), c (count)
// and d (the events, each a type code byte and the length-prefixed job
// ID, name, attempts made and x, an empty or encoded list of result,
// reason, progress, run at, scheduler ID and count). Only events with an
// ID above after are appended, at most max in all.
func decodeEntry(evs []backend.Event, last uint64, fields []any, after uint64, max int) ([]backend.Event, error) {
	var ts time.Time
	var count uint64
	var data string
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		switch k {
		case "ts":
			ts = fromMs(v)
		case "c":
			count = uint64(atoi(v))
		case "d":
			data = v
		}
	}
	if count == 0 || count > last {
		return evs, fmt.Errorf("drover: corrupt event entry %d: count %d", last, count)
	}
	id := last - count
	for range count {
		id++
		if data == "" {
			return evs, fmt.Errorf("drover: corrupt event %d: short entry", id)
		}
		typ, ok := eventTypes[data[0]]
		if !ok {
			return evs, fmt.Errorf("drover: corrupt event %d: type %q", id, data[0])
		}
		var f [4]string
		rest := data[1:]
		for k := range f {
			v, r, err := nextField(rest)
			if err != nil {
				return evs, fmt.Errorf("drover: corrupt event %d: %w", id, err)
			}
			f[k], rest = v, r
		}
		data = rest
		if id <= after {
			continue
		}
		if len(evs) >= max {
			break
		}
		e := backend.Event{ID: id, Type: typ, Time: ts, JobID: f[0], Name: f[1], AttemptsMade: int(atoi(f[2]))}
		if f[3] != "" {
			x, err := decode(f[3])
			if err != nil || len(x) != 6 {
				return evs, fmt.Errorf("drover: corrupt event %d", id)
			}
			e.Result = bytesOf(x[0])
			e.Reason = x[1]
			e.Progress = bytesOf(x[2])
			e.RunAt = fromMs(x[3])
			e.SchedulerID = x[4]
			e.Count = int(atoi(x[5]))
		}
		evs = append(evs, e)
	}
	return evs, nil
}
