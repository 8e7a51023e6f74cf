package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/eventtally"
)

// printJSON prints v as indented JSON: the output of a command that
// prints one value.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLine prints v as JSON on one line: the output of a command
// that prints a stream of values.
func printJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// printTable prints rows under a header, in columns aligned for people.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// printFields prints name and value pairs, the names aligned; a value of
// several lines continues indented under its name.
func printFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		lines := strings.Split(f[1], "\n")
		fmt.Fprintf(tw, "%s\t%s\n", f[0], lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t%s\n", l)
		}
	}
	return tw.Flush()
}

// payload is a job's data, result or progress in JSON output: the JSON
// itself when it is JSON, else a string.
type payload []byte

func (p payload) MarshalJSON() ([]byte, error) {
	if len(p) == 0 {
		return []byte("null"), nil
	}
	if json.Valid(p) {
		return p, nil
	}
	return json.Marshal(string(p))
}

// UnmarshalJSON keeps the JSON as it is, for the tests that read the
// output back.
func (p *payload) UnmarshalJSON(b []byte) error {
	*p = append((*p)[:0], b...)
	return nil
}

// text is a payload for a table: as it is, on one line, cut to n bytes
// (0: whole).
func (p payload) text(n int) string {
	s := strings.Join(strings.Fields(string(p)), " ")
	if n > 0 && len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// counts is one queue's counts in output.
type counts struct {
	Queue           string `json:"queue"`
	Waiting         int    `json:"waiting"`
	Delayed         int    `json:"delayed"`
	Active          int    `json:"active"`
	WaitingChildren int    `json:"waiting_children"`
	Completed       int    `json:"completed"`
	Failed          int    `json:"failed"`
	Paused          bool   `json:"paused"`
	// Rates are those since the round before, in stats --watch.
	Rates *rates `json:"rates,omitempty"`
}

// rates are the jobs of a queue added, completed and failed (for good)
// in a period, by the events of its log, and the same a second.
type rates struct {
	Seconds            float64 `json:"seconds"`
	Added              uint64  `json:"added"`
	Completed          uint64  `json:"completed"`
	Failed             uint64  `json:"failed"`
	AddedPerSecond     float64 `json:"added_per_second"`
	CompletedPerSecond float64 `json:"completed_per_second"`
	FailedPerSecond    float64 `json:"failed_per_second"`
}

// ratesOf returns the rates of a period of d in which the counts of
// events went from before to after.
func ratesOf(before, after eventtally.Counts, d time.Duration) *rates {
	r := &rates{
		Seconds:   d.Seconds(),
		Added:     after.Added - before.Added,
		Completed: after.Completed - before.Completed,
		Failed:    after.Failed - before.Failed,
	}
	if r.Seconds > 0 {
		r.AddedPerSecond = float64(r.Added) / r.Seconds
		r.CompletedPerSecond = float64(r.Completed) / r.Seconds
		r.FailedPerSecond = float64(r.Failed) / r.Seconds
	}
	return r
}

func countsOf(queue string, c backend.Counts) counts {
	return counts{queue, c.Waiting, c.Delayed, c.Active, c.WaitingChildren, c.Completed, c.Failed, c.Paused, nil}
}

// countsHeader is the header of a table of counts.
func countsHeader() []string {
	return []string{"QUEUE", "WAITING", "DELAYED", "ACTIVE", "WAITING-CHILDREN", "COMPLETED", "FAILED", "PAUSED"}
}

func printCounts(w io.Writer, cs []counts) error {
	rows := make([][]string, len(cs))
	for i, c := range cs {
		rows[i] = countsRow(c)
	}
	return printTable(w, countsHeader(), rows)
}

// printRatedCounts prints counts with their rates, "-" where there are
// none yet.
func printRatedCounts(w io.Writer, cs []counts) error {
	rows := make([][]string, len(cs))
	for i, c := range cs {
		if r := c.Rates; r != nil {
			rows[i] = append(countsRow(c), perSecond(r.AddedPerSecond), perSecond(r.CompletedPerSecond), perSecond(r.FailedPerSecond))
		} else {
			rows[i] = append(countsRow(c), "-", "-", "-")
		}
	}
	return printTable(w, append(countsHeader(), "ADDED/S", "COMPLETED/S", "FAILED/S"), rows)
}

func countsRow(c counts) []string {
	paused := "no"
	if c.Paused {
		paused = "yes"
	}
	return []string{c.Queue, itoa(c.Waiting), itoa(c.Delayed), itoa(c.Active), itoa(c.WaitingChildren), itoa(c.Completed), itoa(c.Failed), paused}
}

func perSecond(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// job is a job in output.
type job struct {
	Queue           string   `json:"queue"`
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	State           string   `json:"state"`
	Priority        int      `json:"priority"`
	Attempts        int      `json:"attempts"`
	AttemptsMade    int      `json:"attempts_made"`
	StalledCount    int      `json:"stalled_count,omitempty"`
	Data            payload  `json:"data"`
	Progress        payload  `json:"progress,omitempty"`
	Result          payload  `json:"result,omitempty"`
	FailedReason    string   `json:"failed_reason,omitempty"`
	Stacktrace      []string `json:"stacktrace,omitempty"`
	LogCount        int      `json:"log_count,omitempty"`
	CreatedAt       jsonTime `json:"created_at"`
	RunAt           jsonTime `json:"run_at,omitzero"`
	ProcessedAt     jsonTime `json:"processed_at,omitzero"`
	FinishedAt      jsonTime `json:"finished_at,omitzero"`
	LeaseExpiresAt  jsonTime `json:"lease_expires_at,omitzero"`
	Worker          string   `json:"worker,omitempty"`
	SchedulerID     string   `json:"scheduler_id,omitempty"`
	CancelRequested bool     `json:"cancel_requested,omitempty"`
	CancelReason    string   `json:"cancel_reason,omitempty"`
	Parent          *ref     `json:"parent,omitempty"`
}

// ref names a job of a flow, with its state now ("removed" when it is
// gone) and, for a child that ended, its outcome.
type ref struct {
	Queue   string   `json:"queue"`
	ID      string   `json:"id"`
	State   string   `json:"state"`
	Outcome *outcome `json:"outcome,omitempty"`
}

type outcome struct {
	State   string  `json:"state"`
	Result  payload `json:"result,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	Ignored bool    `json:"ignored,omitempty"`
}

// jsonTime is a time in output: RFC 3339 in UTC.
type jsonTime struct{ time.Time }

func (t jsonTime) IsZero() bool { return t.Time.IsZero() }

func (t jsonTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

func jobOf(j *backend.Job) job {
	out := job{
		Queue: j.Queue, ID: j.ID, Name: j.Name, State: string(j.State), Priority: j.Priority,
		Attempts: j.Attempts, AttemptsMade: j.AttemptsMade, StalledCount: j.StalledCount,
		Data: j.Data, Progress: j.Progress, Result: j.Result, FailedReason: j.FailedReason,
		Stacktrace: j.Stacktrace, LogCount: j.LogCount,
		CreatedAt: jsonTime{j.CreatedAt}, RunAt: jsonTime{j.RunAt}, ProcessedAt: jsonTime{j.ProcessedAt},
		FinishedAt: jsonTime{j.FinishedAt}, LeaseExpiresAt: jsonTime{j.LeaseExpiresAt},
		Worker: j.Worker, SchedulerID: j.SchedulerID,
		CancelRequested: j.CancelRequested, CancelReason: j.CancelReason,
	}
	if j.State != backend.StateActive {
		out.LeaseExpiresAt = jsonTime{}
	}
	return out
}

// stamp formats a time for a table: local, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// detail says, in a few words, what matters about a job in its state.
func detail(j *backend.Job) string {
	switch j.State {
	case backend.StateDelayed:
		return "runs at " + stamp(j.RunAt)
	case backend.StateActive:
		d := "worker " + j.Worker + ", lease until " + stamp(j.LeaseExpiresAt)
		if j.CancelRequested {
			d += ", cancelling"
		}
		return d
	case backend.StateWaitingChildren:
		return fmt.Sprintf("%d of %d children pending", j.PendingChildren(), len(j.Children))
	case backend.StateCompleted:
		return "finished " + stamp(j.FinishedAt) + " " + payload(j.Result).text(40)
	case backend.StateFailed:
		return "finished " + stamp(j.FinishedAt) + " " + payload(j.FailedReason).text(60)
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }
