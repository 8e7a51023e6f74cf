package queue

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/droverhq/drover/backend"
)

// Job is a job as read from the store, with methods to act on it. Its
// fields are a snapshot: call Queue.Job again for fresh ones.
type Job struct {
	backend.Job
	// Duplicate is set on a job returned by Add when a job with the same
	// caller-chosen ID existed already, or held the deduplication key: it
	// is that job, and no job was made.
	Duplicate bool
	// Dedup says what the add did when the job held its deduplication
	// key: ignored, replaced its data (debounce), or deferred until it
	// finishes (debounce, KeepLastIfActive).
	Dedup DedupOutcome

	q   *Queue
	run *run // the attempt that runs the job, in a worker; else nil
}

func newJob(q *Queue, rec *backend.Job) *Job {
	return &Job{Job: *rec, q: q}
}

// Decode unmarshals the job's data, which must be JSON, into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Data, v); err != nil {
		return fmt.Errorf("drover: decode data of job %s: %w", j.ID, err)
	}
	return nil
}

// DataAs decodes a job's JSON data as a T.
func DataAs[T any](j *Job) (T, error) {
	var v T
	err := j.Decode(&v)
	return v, err
}

// SchedulerID returns the ID of the job scheduler that made this job, or ""
// if no scheduler did.
func (j *Job) SchedulerID() string { return j.Job.SchedulerID }

// UpdateProgress stores v, encoded as JSON, as the job's progress, and
// appends a progress event.
func (j *Job) UpdateProgress(ctx context.Context, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return &ValidationError{Index: -1, Field: "Progress", Reason: "cannot encode as JSON: " + err.Error(), Err: err}
	}
	u, err := j.updater()
	if err != nil {
		return err
	}
	if err := u.UpdateProgress(ctx, j.Queue, j.ID, data); err != nil {
		return fmt.Errorf("drover: progress of job %s: %w", j.ID, err)
	}
	j.Progress = data
	return nil
}

// Log appends a line to the job's log.
func (j *Job) Log(ctx context.Context, line string) error {
	u, err := j.updater()
	if err != nil {
		return err
	}
	n, err := u.AddLog(ctx, j.Queue, j.ID, line)
	if err != nil {
		return fmt.Errorf("drover: log of job %s: %w", j.ID, err)
	}
	j.LogCount = n
	return nil
}

// Logs returns the job's log lines in page, and their total count.
func (j *Job) Logs(ctx context.Context, page Page) ([]string, int, error) {
	u, err := j.updater()
	if err != nil {
		return nil, 0, err
	}
	res, err := u.Logs(ctx, j.Queue, j.ID, &backend.LogsRequest{Offset: page.Offset, Limit: page.Limit})
	if err != nil {
		return nil, 0, fmt.Errorf("drover: logs of job %s: %w", j.ID, err)
	}
	return res.Lines, res.Total, nil
}

func (j *Job) updater() (backend.JobUpdater, error) {
	if err := j.q.check(); err != nil {
		return nil, err
	}
	u, ok := j.q.b.(backend.JobUpdater)
	if !ok {
		return nil, fmt.Errorf("drover: job progress and logs: %w", ErrUnsupported)
	}
	return u, nil
}
