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

// headFields is the number of leading job fields that scripts set when
// they create a job; the rest (the tail) come from the Go side.
const headFields = fName

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
		c := strings.IndexByte(s, ':')
		if c <= 0 {
			return nil, fmt.Errorf("drover: corrupt record: no length")
		}
		n, err := strconv.Atoi(s[:c])
		if err != nil || n < 0 || n > len(s)-c-1 || strconv.Itoa(n) != s[:c] {
			return nil, fmt.Errorf("drover: corrupt record: bad length %q", s[:c])
		}
		out = append(out, s[c+1:c+1+n])
		s = s[c+1+n:]
	}
	return out, nil
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

func refString(q, id string) string { return q + "\n" + id }

func parseRef(s string) backend.JobRef {
	q, id, _ := strings.Cut(s, "\n")
	return backend.JobRef{Queue: q, ID: id}
}

// jobTail encodes the fields of a new job that its add script does not
// set.
func jobTail(j *backend.NewJob, schedulerID string) string {
	f := make([]string, numJobFields-headFields)
	set := func(i int, v string) { f[i-headFields] = v }
	set(fName, j.Name)
	set(fData, string(j.Data))
	set(fPriority, itoa(int64(j.Priority)))
	set(fAttempts, itoa(int64(j.Attempts)))
	set(fMade, "0")
	set(fStalled, "0")
	set(fBackoff, encode(string(j.Backoff.Type), itoa(j.Backoff.Delay.Milliseconds()), strconv.FormatFloat(j.Backoff.Jitter, 'g', -1, 64)))
	set(fTimeout, itoa(j.Timeout.Milliseconds()))
	set(fKeepCompleted, encodeRetention(j.KeepCompleted))
	set(fKeepFailed, encodeRetention(j.KeepFailed))
	set(fLogs, "0")
	set(fProcessed, "0")
	set(fFinished, "0")
	set(fLeaseExp, "0")
	set(fScheduler, schedulerID)
	set(fPolicy, string(j.FailurePolicy))
	return encode(f...)
}

// decodeJob turns a stored record into a Job.
func decodeJob(queue, id, rec string) (*backend.Job, error) {
	f, err := decode(rec)
	if err != nil {
		return nil, err
	}
	if len(f) != numJobFields {
		return nil, fmt.Errorf("drover: corrupt record of job %s: %d fields", id, len(f))
	}
	j := &backend.Job{
		Queue:         queue,
		ID:            id,
		Name:          f[fName],
		Data:          bytesOf(f[fData]),
		State:         backend.JobState(f[fState]),
		Seq:           uint64(atoi(f[fSeq])),
		Priority:      int(atoi(f[fPriority])),
		Attempts:      int(atoi(f[fAttempts])),
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
	return j, nil
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
	head := make([]string, headFields)
	for i := range head {
		head[i] = ""
	}
	tj, err := decodeJob("", "", encode(head...)+f[sTail])
	if err != nil {
		return nil, err
	}
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

// decodeEvent turns a stream entry body into an Event.
func decodeEvent(id uint64, body string) (backend.Event, error) {
	f, err := decode(body)
	if err != nil {
		return backend.Event{}, err
	}
	if len(f) != 11 {
		return backend.Event{}, fmt.Errorf("drover: corrupt event %d: %d fields", id, len(f))
	}
	return backend.Event{
		ID:           id,
		Type:         backend.EventType(f[0]),
		Time:         fromMs(f[1]),
		JobID:        f[2],
		Name:         f[3],
		AttemptsMade: int(atoi(f[4])),
		Result:       bytesOf(f[5]),
		Reason:       f[6],
		Progress:     bytesOf(f[7]),
		RunAt:        fromMs(f[8]),
		SchedulerID:  f[9],
		Count:        int(atoi(f[10])),
	}, nil
}
