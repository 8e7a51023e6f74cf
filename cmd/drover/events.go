package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

func newEventsCmd(o *options) *cobra.Command {
	var (
		after  string
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "events <queue>",
		Short: "Print a queue's event log, or follow it",
		Long: `Print the events of a queue's log after a cursor, one a line: ID, time,
type, job and details; with --json one JSON object a line. Without
--follow drover stops at the end of the log; with it, it waits for new
events until interrupted.

--after is an event ID (print the events after it: the last ID a previous
run printed resumes it without a gap), "start" (the oldest event kept; the
default without --follow) or "now" (only new events; the default with
--follow). A cursor older than the oldest event kept, or past the newest,
is refused (exit status 5).`,
		Example: `  drover --bolt jobs.db events mail
  drover --redis redis://localhost:6379 events mail --follow
  drover --bolt jobs.db events mail --after 1200 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if after == "" {
				after = "start"
				if follow {
					after = "now"
				}
			}
			from, err := parseAfter(after)
			if err != nil {
				return err
			}
			return o.withQueue(args[0], func(s store, q *queue.Queue) error {
				if follow {
					return o.followEvents(cmd.Context(), q, from)
				}
				return o.printEvents(cmd.Context(), s, q.Name(), after)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&after, "after", "", `where to start: an event ID, "start" or "now"`)
	f.BoolVarP(&follow, "follow", "f", false, "wait for new events until interrupted")
	return cmd
}

func parseAfter(s string) (queue.From, error) {
	switch s {
	case "now":
		return queue.FromNow(), nil
	case "start":
		return queue.FromStart(), nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return queue.From{}, usagef(`--after %q: want an event ID, "start" or "now"`, s)
	}
	return queue.FromID(id), nil
}

// printEvents prints the events after the cursor up to the end of the
// log, a page at a time.
func (o *options) printEvents(ctx context.Context, s store, name, after string) error {
	var cursor uint64
	switch after {
	case "now":
		return nil
	case "start":
	default:
		cursor, _ = strconv.ParseUint(after, 10, 64)
	}
	for {
		res, err := s.Events(ctx, name, &backend.EventsRequest{After: cursor, Max: 1000})
		if err != nil {
			return err
		}
		if len(res.Events) == 0 {
			return nil
		}
		for _, ev := range res.Events {
			if err := o.printEvent(ev); err != nil {
				return err
			}
		}
		cursor = res.Events[len(res.Events)-1].ID
	}
}

// followEvents prints events as they come, until ctx ends.
func (o *options) followEvents(ctx context.Context, q *queue.Queue, from queue.From) error {
	sub, err := q.Subscribe(ctx, from, nil)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		ev, err := sub.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if err := o.printEvent(ev); err != nil {
			return err
		}
	}
}

func (o *options) printEvent(ev backend.Event) error {
	if o.json {
		return printJSONLine(o.stdout, eventOf(ev))
	}
	_, err := fmt.Fprintln(o.stdout, formatEvent(ev))
	return err
}

// event is an event in output.
type event struct {
	ID           uint64   `json:"id"`
	Type         string   `json:"type"`
	Time         jsonTime `json:"time"`
	JobID        string   `json:"job_id,omitempty"`
	Name         string   `json:"name,omitempty"`
	AttemptsMade int      `json:"attempts_made,omitempty"`
	Result       payload  `json:"result,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Progress     payload  `json:"progress,omitempty"`
	RunAt        jsonTime `json:"run_at,omitzero"`
	SchedulerID  string   `json:"scheduler_id,omitempty"`
	Count        int      `json:"count,omitempty"`
	Data         payload  `json:"data,omitempty"`
}

func eventOf(ev backend.Event) event {
	return event{
		ID: ev.ID, Type: string(ev.Type), Time: jsonTime{ev.Time}, JobID: ev.JobID, Name: ev.Name,
		AttemptsMade: ev.AttemptsMade, Result: ev.Result, Reason: ev.Reason, Progress: ev.Progress,
		RunAt: jsonTime{ev.RunAt}, SchedulerID: ev.SchedulerID, Count: ev.Count, Data: ev.Data,
	}
}

// formatEvent renders one event as one line: ID, time, type, job, details.
func formatEvent(ev backend.Event) string {
	line := fmt.Sprintf("%d\t%s\t%-18s", ev.ID, ev.Time.UTC().Format("15:04:05.000"), ev.Type)
	if ev.JobID != "" {
		line += " job=" + ev.JobID
	}
	if ev.Name != "" {
		line += " name=" + ev.Name
	}
	if ev.AttemptsMade > 0 {
		line += fmt.Sprintf(" attempts=%d", ev.AttemptsMade)
	}
	if !ev.RunAt.IsZero() {
		line += " run_at=" + ev.RunAt.UTC().Format(time.RFC3339Nano)
	}
	if ev.SchedulerID != "" {
		line += " scheduler=" + ev.SchedulerID
	}
	if ev.Count > 0 {
		line += fmt.Sprintf(" count=%d", ev.Count)
	}
	if len(ev.Progress) > 0 {
		line += " progress=" + payload(ev.Progress).text(0)
	}
	if len(ev.Result) > 0 {
		line += " result=" + payload(ev.Result).text(80)
	}
	if ev.Reason != "" {
		line += " reason=" + strconv.Quote(payload(ev.Reason).text(120))
	}
	if len(ev.Data) > 0 {
		line += " data=" + payload(ev.Data).text(80)
	}
	return line
}
