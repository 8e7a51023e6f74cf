package backend

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Bounds on job fields, the same for every store.
const (
	// MaxPriority is the largest job priority.
	MaxPriority = 1 << 21
	// MaxDelay is the longest delay a job may have; longer is taken for a
	// unit mistake.
	MaxDelay = 100 * 365 * 24 * time.Hour
	// MaxAttempts is the largest attempt count.
	MaxAttempts = 1 << 20
	// MaxNameLen bounds job names, queue names and caller-chosen IDs.
	MaxNameLen = 512
	// MaxFlowDepth bounds the depth of a flow tree.
	MaxFlowDepth = 64
	// DefaultMaxPayload is the default limit on job data, results and
	// progress: 1 MiB.
	DefaultMaxPayload = 1 << 20
	// MaxMetaEntries bounds the number of entries of a job's Meta.
	MaxMetaEntries = 64
	// MaxMetaSize bounds the bytes of a job's Meta, keys and values
	// together: room for a W3C trace context and baggage at their
	// largest (8 KiB).
	MaxMetaSize = 16 << 10
)

// ValidateQueueName reports whether name can name a queue: not empty, at
// most MaxNameLen bytes, no braces (they would break Redis hash tags), no
// spaces or control characters.
func ValidateQueueName(name string) error {
	switch {
	case name == "":
		return Invalid("Queue", "queue name is empty")
	case len(name) > MaxNameLen:
		return Invalid("Queue", fmt.Sprintf("queue name is longer than %d bytes", MaxNameLen))
	case strings.ContainsAny(name, "{}"):
		return Invalid("Queue", "queue name contains a brace")
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return Invalid("Queue", "queue name contains a space or control character")
	}
	return nil
}

// Validate checks an Add request for queue before anything is written, at
// the store's time now; see ValidateAdd. A nil request is invalid.
func (r *AddRequest) Validate(queue string, maxPayload int, now time.Time) error {
	if r == nil {
		return Invalid("AddRequest", "request is nil")
	}
	if err := ValidateAdd(queue, r.Jobs, maxPayload); err != nil {
		return err
	}
	for i := range r.Jobs {
		if err := validateRunAt(&r.Jobs[i], now); err != nil {
			err.Index = i
			return err
		}
	}
	return nil
}

// validateRunAt checks that no job of a tree runs more than MaxDelay after
// now.
func validateRunAt(j *NewJob, now time.Time) *ValidationError {
	if !j.RunAt.IsZero() && j.RunAt.Sub(now) > MaxDelay {
		return &ValidationError{Field: "RunAt", Reason: "run time is more than 100 years away"}
	}
	for k := range j.Children {
		if err := validateRunAt(&j.Children[k], now); err != nil {
			return err
		}
	}
	return nil
}

// ValidateAdd checks an Add request for queue before anything is written:
// every field of every job and flow child, and caller-chosen IDs that occur
// twice in the request (which would make a cycle or a shared child). The
// error is a *ValidationError whose Index is the top-level entry at fault.
// maxPayload <= 0 means DefaultMaxPayload.
func ValidateAdd(queue string, jobs []NewJob, maxPayload int) error {
	if err := ValidateQueueName(queue); err != nil {
		return err
	}
	if len(jobs) == 0 {
		return Invalid("Jobs", "no job to add")
	}
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	seen := make(map[JobRef]bool)
	for i := range jobs {
		if err := validateTree(queue, &jobs[i], maxPayload, 1, seen); err != nil {
			err.Index = i
			return err
		}
	}
	return nil
}

func validateTree(queue string, j *NewJob, maxPayload, depth int, seen map[JobRef]bool) *ValidationError {
	if depth > MaxFlowDepth {
		return &ValidationError{Field: "Children", Reason: fmt.Sprintf("flow is deeper than %d", MaxFlowDepth)}
	}
	if j.Queue != "" {
		if err := ValidateQueueName(j.Queue); err != nil {
			return err.(*ValidationError)
		}
		queue = j.Queue
	}
	if err := ValidateJobFields(j, maxPayload); err != nil {
		return err
	}
	if j.Dedup != (Dedup{}) {
		switch {
		case depth > 1:
			return &ValidationError{Field: "Dedup", Reason: "a flow child cannot have a deduplication key", Err: ErrUnsupported}
		case len(j.Children) > 0:
			return &ValidationError{Field: "Dedup", Reason: "a flow parent cannot have a deduplication key", Err: ErrUnsupported}
		}
	}
	if j.ID != "" {
		ref := JobRef{Queue: queue, ID: j.ID}
		if seen[ref] {
			return &ValidationError{Field: "ID", Reason: fmt.Sprintf("job %s occurs twice in one request", ref), Err: ErrConflict}
		}
		seen[ref] = true
	}
	for k := range j.Children {
		if err := validateTree(queue, &j.Children[k], maxPayload, depth+1, seen); err != nil {
			return err
		}
	}
	return nil
}

// ValidateJobFields checks the fields of one job (not its children).
func ValidateJobFields(j *NewJob, maxPayload int) *ValidationError {
	bad := func(field, reason string) *ValidationError {
		return &ValidationError{Field: field, Reason: reason}
	}
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	switch {
	case j.Name == "":
		return bad("Name", "job name is empty")
	case len(j.Name) > MaxNameLen:
		return bad("Name", fmt.Sprintf("job name is longer than %d bytes", MaxNameLen))
	case len(j.Data) > maxPayload:
		return &ValidationError{Field: "Data", Reason: fmt.Sprintf("%d bytes is over the limit of %d", len(j.Data), maxPayload), Err: ErrTooLarge}
	case j.Delay < 0:
		return bad("Delay", "delay is negative")
	case j.Delay > MaxDelay:
		return bad("Delay", "delay is longer than 100 years")
	case j.Delay != 0 && !j.RunAt.IsZero():
		return bad("RunAt", "both a delay and a run time are set")
	case j.Priority < 0 || j.Priority > MaxPriority:
		return bad("Priority", fmt.Sprintf("priority %d is outside 0..%d", j.Priority, MaxPriority))
	case j.Attempts < 0 || j.Attempts > MaxAttempts:
		return bad("Attempts", fmt.Sprintf("attempts %d is outside 0..%d", j.Attempts, MaxAttempts))
	case j.Timeout < 0:
		return bad("Timeout", "timeout is negative")
	case !j.FailurePolicy.Valid():
		return bad("FailurePolicy", fmt.Sprintf("unknown failure policy %q", j.FailurePolicy))
	}
	if err := validateID(j.ID); err != nil {
		return err
	}
	if err := ValidateMeta(j.Meta); err != nil {
		return err
	}
	if err := j.Dedup.validate(); err != nil {
		return err
	}
	if err := validateGroup(j.Group); err != nil {
		return err
	}
	switch j.Backoff.Type {
	case BackoffNone, BackoffFixed, BackoffExponential:
	default:
		return bad("Backoff", fmt.Sprintf("unknown backoff type %q", j.Backoff.Type))
	}
	if j.Backoff.Delay < 0 || j.Backoff.Delay > MaxDelay {
		return bad("Backoff", "backoff delay is negative or longer than 100 years")
	}
	if !(j.Backoff.Jitter >= 0 && j.Backoff.Jitter <= 1) { // NaN too
		return bad("Backoff", "jitter is outside 0..1")
	}
	for _, r := range []struct {
		field string
		r     Retention
	}{{"KeepCompleted", j.KeepCompleted}, {"KeepFailed", j.KeepFailed}} {
		if r.r.Count < 0 || r.r.Age < 0 {
			return bad(r.field, "retention count or age is negative")
		}
	}
	return nil
}

// ValidateMeta checks a job's metadata: at most MaxMetaEntries entries
// and MaxMetaSize bytes of keys and values (ErrTooLarge past either),
// keys not empty, with no control characters, and at most MaxNameLen
// bytes.
func ValidateMeta(m map[string]string) *ValidationError {
	if len(m) > MaxMetaEntries {
		return &ValidationError{Field: "Meta", Reason: fmt.Sprintf("%d entries is over the limit of %d", len(m), MaxMetaEntries), Err: ErrTooLarge}
	}
	n := 0
	for k, v := range m {
		switch {
		case k == "":
			return &ValidationError{Field: "Meta", Reason: "a key is empty"}
		case len(k) > MaxNameLen:
			return &ValidationError{Field: "Meta", Reason: fmt.Sprintf("a key is longer than %d bytes", MaxNameLen)}
		case strings.IndexFunc(k, unicode.IsControl) >= 0:
			return &ValidationError{Field: "Meta", Reason: fmt.Sprintf("key %q contains a control character", k)}
		}
		n += len(k) + len(v)
	}
	if n > MaxMetaSize {
		return &ValidationError{Field: "Meta", Reason: fmt.Sprintf("%d bytes is over the limit of %d", n, MaxMetaSize), Err: ErrTooLarge}
	}
	return nil
}

func validateID(id string) *ValidationError {
	if id == "" {
		return nil
	}
	if len(id) > MaxNameLen {
		return &ValidationError{Field: "ID", Reason: fmt.Sprintf("job id is longer than %d bytes", MaxNameLen)}
	}
	if strings.TrimLeft(id, "0123456789") == "" {
		return &ValidationError{Field: "ID", Reason: "a caller-chosen job id must not be all digits (those are the store's own)"}
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return &ValidationError{Field: "ID", Reason: "job id contains a control character"}
	}
	return nil
}

// ValidatePayload checks a result, progress or log line against the limit.
func ValidatePayload(field string, n, maxPayload int) error {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	if n > maxPayload {
		return &ValidationError{Index: -1, Field: field, Reason: fmt.Sprintf("%d bytes is over the limit of %d", n, maxPayload), Err: ErrTooLarge}
	}
	return nil
}

// MaxLease is the most jobs one Lease call may take.
const MaxLease = 1000

// Validate checks a Lease request: a nil request, Max outside
// 1..MaxLease, a TTL that is not positive or absurdly long, a negative or
// absurd Wait, a negative MaxStalled.
func (r *LeaseRequest) Validate() error {
	switch {
	case r == nil:
		return Invalid("LeaseRequest", "request is nil")
	case r.Max < 1 || r.Max > MaxLease:
		return Invalid("Max", fmt.Sprintf("max %d is outside 1..%d", r.Max, MaxLease))
	case r.TTL <= 0 || r.TTL > MaxDelay:
		return Invalid("TTL", fmt.Sprintf("lease TTL %v is not positive or longer than 100 years", r.TTL))
	case r.Wait < 0 || r.Wait > MaxDelay:
		return Invalid("Wait", fmt.Sprintf("wait %v is negative or longer than 100 years", r.Wait))
	case r.MaxStalled < 0:
		return Invalid("MaxStalled", fmt.Sprintf("max stalled %d is negative", r.MaxStalled))
	}
	return nil
}

// Validate checks a Renew request: a nil request, or a TTL that is not
// positive or absurdly long.
func (r *RenewRequest) Validate() error {
	switch {
	case r == nil:
		return Invalid("RenewRequest", "request is nil")
	case r.TTL <= 0 || r.TTL > MaxDelay:
		return Invalid("TTL", fmt.Sprintf("lease TTL %v is not positive or longer than 100 years", r.TTL))
	}
	return nil
}

// Validate checks a Settle request as a whole: a nil request is invalid.
// Each settlement is checked on its own by Settlement.Validate.
func (r *SettleRequest) Validate() error {
	if r == nil {
		return Invalid("SettleRequest", "request is nil")
	}
	return nil
}

// Validate checks one settlement: a known outcome, result, reason and
// stack trace within the payload limit (maxPayload <= 0 means
// DefaultMaxPayload), a retry delay within 0..MaxDelay. A store reports its
// error in SettleResult.Errs and applies the request's other settlements.
func (s *Settlement) Validate(maxPayload int) error {
	switch {
	case s.Outcome < OutcomeComplete || s.Outcome > OutcomeSnooze:
		return Invalid("Outcome", fmt.Sprintf("unknown outcome %d", s.Outcome))
	case s.RetryDelay < 0 || s.RetryDelay > MaxDelay:
		return Invalid("RetryDelay", fmt.Sprintf("retry delay %v is negative or longer than 100 years", s.RetryDelay))
	case s.HoldQueue < 0 || s.HoldQueue > MaxDelay:
		return Invalid("HoldQueue", fmt.Sprintf("hold %v is negative or longer than 100 years", s.HoldQueue))
	case s.HoldQueue > 0 && s.Outcome != OutcomeRelease:
		return Invalid("HoldQueue", "a hold of the queue goes with a release")
	}
	if err := ValidatePayload("Result", len(s.Result), maxPayload); err != nil {
		return err
	}
	if err := ValidatePayload("Reason", len(s.Reason), maxPayload); err != nil {
		return err
	}
	n := 0
	for _, line := range s.Stacktrace {
		n += len(line) + 1
	}
	return ValidatePayload("Stacktrace", n, maxPayload)
}

// ValidateSchedulerID reports whether id can name a job scheduler: not
// empty, at most MaxNameLen bytes, no control characters.
func ValidateSchedulerID(id string) error {
	switch {
	case id == "":
		return Invalid("ID", "scheduler id is empty")
	case len(id) > MaxNameLen:
		return Invalid("ID", fmt.Sprintf("scheduler id is longer than %d bytes", MaxNameLen))
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return Invalid("ID", "scheduler id contains a control character")
	}
	return nil
}

// ValidateTemplate checks the job options of a scheduler's iterations; the
// fields a template ignores (ID, Queue, Delay, RunAt, LIFO, Children) are
// not checked.
func ValidateTemplate(t *NewJob, maxPayload int) error {
	if t.Group != "" {
		return &ValidationError{Index: -1, Field: "Template.Group", Reason: "a scheduler's iterations cannot have a group", Err: ErrUnsupported}
	}
	if t.Dedup != (Dedup{}) {
		return &ValidationError{Index: -1, Field: "Template.Dedup", Reason: "a scheduler's iterations cannot have a deduplication key", Err: ErrUnsupported}
	}
	tpl := *t
	tpl.ID, tpl.Queue, tpl.Delay, tpl.RunAt, tpl.LIFO, tpl.Children = "", "", 0, time.Time{}, false, nil
	if err := ValidateJobFields(&tpl, maxPayload); err != nil {
		err.Index = -1
		err.Field = "Template." + err.Field
		return err
	}
	return nil
}

// Validate checks an upsert before anything is written: the scheduler's
// ID, the size of its repeat rule, its template, and run times that are
// set and strictly ascending from Next on.
func (r *CompareAndUpsertRequest) Validate(maxPayload int) error {
	if r == nil {
		return Invalid("CompareAndUpsertRequest", "request is nil")
	}
	s := &r.Scheduler
	if err := ValidateSchedulerID(s.ID); err != nil {
		return err
	}
	if err := ValidatePayload("Repeat", len(s.Repeat), maxPayload); err != nil {
		return err
	}
	if err := ValidateTemplate(&s.Template, maxPayload); err != nil {
		return err
	}
	prev := s.Next
	for _, t := range s.Upcoming {
		if t.IsZero() || (!prev.IsZero() && !t.After(prev)) {
			return Invalid("Upcoming", "run times are zero or not strictly ascending after Next")
		}
		prev = t
	}
	return nil
}

// validatePage checks the offset and size of one page of a listing.
func validatePage(offset, limit int) error {
	switch {
	case offset < 0:
		return Invalid("Offset", fmt.Sprintf("offset %d is negative", offset))
	case limit < 0:
		return Invalid("Limit", fmt.Sprintf("limit %d is negative", limit))
	}
	return nil
}

// Validate checks a Jobs request: a known state and a page that is not
// negative. A nil request is invalid.
func (r *JobsRequest) Validate() error {
	switch {
	case r == nil:
		return Invalid("JobsRequest", "request is nil")
	case !r.State.Valid():
		return Invalid("State", fmt.Sprintf("unknown job state %q", r.State))
	}
	return validatePage(r.Offset, r.Limit)
}

// Validate checks a Schedulers request; a nil request is the first page.
func (r *SchedulersRequest) Validate() error {
	if r == nil {
		return nil
	}
	return validatePage(r.Offset, r.Limit)
}

// Validate checks a Logs request; a nil request reads every line.
func (r *LogsRequest) Validate() error {
	if r == nil {
		return nil
	}
	return validatePage(r.Offset, r.Limit)
}

// Validate checks an Events request; a nil request reads from the start.
func (r *EventsRequest) Validate() error {
	switch {
	case r == nil:
		return nil
	case r.Max < 0:
		return Invalid("Max", fmt.Sprintf("max %d is negative", r.Max))
	case r.Wait < 0 || r.Wait > MaxDelay:
		return Invalid("Wait", fmt.Sprintf("wait %v is negative or longer than 100 years", r.Wait))
	}
	return nil
}

// ValidateCount checks a CountEvents request: an Events request that
// does not wait.
func (r *EventsRequest) ValidateCount() error {
	if r != nil && r.Wait != 0 {
		return Invalid("Wait", "CountEvents does not wait")
	}
	return r.Validate()
}

// Validate checks a Clean request: a state Clean can empty (completed,
// failed, waiting or delayed), a grace and limit that are not negative. A
// nil request is invalid.
func (r *CleanRequest) Validate() error {
	if r == nil {
		return Invalid("CleanRequest", "request is nil")
	}
	switch r.State {
	case StateCompleted, StateFailed, StateWaiting, StateDelayed:
	default:
		return Invalid("State", fmt.Sprintf("cannot clean state %q", r.State))
	}
	switch {
	case r.Grace < 0:
		return Invalid("Grace", fmt.Sprintf("grace %v is negative", r.Grace))
	case r.Limit < 0:
		return Invalid("Limit", fmt.Sprintf("limit %d is negative", r.Limit))
	}
	return nil
}

// bulkLimit checks the limit of a bulk call: 0 (MaxBulk) to MaxBulk.
func bulkLimit(limit int) error {
	if limit < 0 || limit > MaxBulk {
		return Invalid("Limit", fmt.Sprintf("limit %d is outside 0..%d", limit, MaxBulk))
	}
	return nil
}

// Validate checks a Retry request: one job by ID, or a state Retry
// accepts (failed or completed) with a limit in range.
func (r *RetryRequest) Validate() error {
	switch {
	case r == nil:
		return Invalid("RetryRequest", "request is nil")
	case r.ID != "" && r.State != "":
		return Invalid("State", "both a job ID and a state are set")
	case r.ID == "" && r.State != StateFailed && r.State != StateCompleted:
		return Invalid("State", fmt.Sprintf("cannot retry jobs of state %q", r.State))
	}
	return bulkLimit(r.Limit)
}

// Validate checks a Promote request's limit.
func (r *PromoteRequest) Validate() error {
	if r == nil {
		return Invalid("PromoteRequest", "request is nil")
	}
	return bulkLimit(r.Limit)
}

// Validate checks a Change request at the store's time now: a job ID, a
// priority in range, a run time at most MaxDelay away, data within the
// payload limit, and at least one change.
func (r *ChangeRequest) Validate(maxPayload int, now time.Time) error {
	switch {
	case r == nil:
		return Invalid("ChangeRequest", "request is nil")
	case r.ID == "":
		return Invalid("ID", "job id is empty")
	case r.Priority == nil && r.RunAt == nil && r.Data == nil:
		return Invalid("ChangeRequest", "nothing to change")
	case r.Priority != nil && (*r.Priority < 0 || *r.Priority > MaxPriority):
		return Invalid("Priority", fmt.Sprintf("priority %d is outside 0..%d", *r.Priority, MaxPriority))
	case r.RunAt != nil && r.RunAt.Sub(now) > MaxDelay:
		return Invalid("RunAt", "run time is more than 100 years away")
	}
	if r.Data != nil {
		return ValidatePayload("Data", len(*r.Data), maxPayload)
	}
	return nil
}

// Validate checks a Cancel request: a job ID, a reason within the payload
// limit.
func (r *CancelRequest) Validate(maxPayload int) error {
	switch {
	case r == nil:
		return Invalid("CancelRequest", "request is nil")
	case r.ID == "":
		return Invalid("ID", "job id is empty")
	}
	return ValidatePayload("Reason", len(r.Reason), maxPayload)
}

// Validate checks a Publish request: a name as for a job, data within the
// payload limit.
func (r *PublishRequest) Validate(maxPayload int) error {
	switch {
	case r == nil:
		return Invalid("PublishRequest", "request is nil")
	case r.Name == "":
		return Invalid("Name", "event name is empty")
	case len(r.Name) > MaxNameLen:
		return Invalid("Name", fmt.Sprintf("event name is longer than %d bytes", MaxNameLen))
	case strings.IndexFunc(r.Name, unicode.IsControl) >= 0:
		return Invalid("Name", "event name contains a control character")
	}
	return ValidatePayload("Data", len(r.Data), maxPayload)
}
