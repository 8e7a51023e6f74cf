package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// queueOf returns a handle on queue name of s; a bad name is a usage
// error.
func queueOf(s store, name string) (*queue.Queue, error) {
	q, err := queue.New(s, name, nil)
	if err != nil {
		return nil, &usageError{err: err}
	}
	return q, nil
}

// withQueue opens the store and a handle on queue name for fn.
func (o *options) withQueue(name string, fn func(s store, q *queue.Queue) error) error {
	return o.withStore(func(s store) error {
		q, err := queueOf(s, name)
		if err != nil {
			return err
		}
		return fn(s, q)
	})
}

// parseState reads a --state flag.
func parseState(s string, allowed ...backend.JobState) (backend.JobState, error) {
	st := backend.JobState(s)
	if len(allowed) == 0 {
		allowed = backend.States
	}
	for _, a := range allowed {
		if st == a {
			return st, nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", usagef("--state %q: want %s", s, strings.Join(names, ", "))
}

func newJobsCmd(o *options) *cobra.Command {
	var (
		state, group  string
		offset, limit int
	)
	cmd := &cobra.Command{
		Use:   "jobs <queue>",
		Short: "List the jobs of a queue in one state, a page at a time",
		Long: `List the jobs of a queue in one state, in the state's order: waiting jobs in
the order they will run, delayed ones by due time, active and
waiting-children ones by number, completed and failed ones most recently
finished first. --offset and --limit page through them. With --group, list
the waiting or active jobs of one group.`,
		Example: `  drover --bolt jobs.db jobs mail --state failed
  drover --bolt jobs.db jobs exports --group acme
  drover --bolt jobs.db jobs mail --state completed --offset 20 --limit 20 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseState(state)
			if err != nil {
				return err
			}
			if offset < 0 || limit < 1 {
				return usagef("--offset %d --limit %d: want an offset of 0 or more and a limit of 1 or more", offset, limit)
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				page := queue.Page{Offset: offset, Limit: limit}
				var jobs []*queue.Job
				if cmd.Flags().Changed("group") {
					jobs, err = q.GroupJobs(cmd.Context(), group, st, page)
				} else {
					jobs, err = q.Jobs(cmd.Context(), st, page)
				}
				if err != nil {
					return err
				}
				if o.json {
					out := make([]job, len(jobs))
					for i, j := range jobs {
						out[i] = jobOf(&j.Job)
					}
					return printJSON(o.stdout, out)
				}
				rows := make([][]string, len(jobs))
				for i, j := range jobs {
					rows[i] = []string{j.ID, j.Name, itoa(j.Priority), fmt.Sprintf("%d/%d", j.AttemptsMade, j.Attempts), stamp(j.CreatedAt), detail(&j.Job)}
				}
				return printTable(o.stdout, []string{"ID", "NAME", "PRIORITY", "ATTEMPTS", "CREATED", strings.ToUpper(string(st))}, rows)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&state, "state", "s", string(backend.StateWaiting), "the state: waiting, delayed, active, waiting-children, completed or failed")
	f.IntVar(&offset, "offset", 0, "jobs to skip")
	f.IntVarP(&limit, "limit", "n", 20, "jobs to list")
	f.StringVar(&group, "group", "", "list the jobs of the group `NAME` (waiting or active)")
	return cmd
}

func newJobCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "job <queue> <id>",
		Short: "Show one job: data, result, error, logs and its flow",
		Long: `Show one job: its state, attempts and times, its data, progress and result,
its failure reason and stack trace, its log lines, and its flow: the
parent it reports to and its children, each with its state now and, for
a child that ended, how it ended.`,
		Example: `  drover --bolt jobs.db job mail 42
  drover --bolt jobs.db job mail 42 --json | jq .job.data`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(s store, q *queue.Queue) error {
				return o.showJob(cmd.Context(), s, q, args[1])
			})
		},
	}
}

// jobView is a job with its logs and flow, as `drover job` prints it.
type jobView struct {
	Job      job      `json:"job"`
	Logs     []string `json:"logs"`
	Parent   *ref     `json:"parent"`
	Children []ref    `json:"children"`
}

func (o *options) showJob(ctx context.Context, s store, q *queue.Queue, id string) error {
	j, err := q.Job(ctx, id)
	if err != nil {
		return err
	}
	logs, _, err := j.Logs(ctx, queue.Page{})
	if err != nil {
		return err
	}
	v := jobView{Job: jobOf(&j.Job), Logs: logs, Children: []ref{}}
	if logs == nil {
		v.Logs = []string{}
	}
	if p := j.Job.Parent; p != nil {
		r, err := refOf(ctx, s, *p)
		if err != nil {
			return err
		}
		v.Parent = &r
	}
	for _, c := range j.Job.Children {
		r, err := refOf(ctx, s, c)
		if err != nil {
			return err
		}
		if oc, ok := j.Job.ChildOutcomes[c.String()]; ok {
			r.Outcome = &outcome{State: string(oc.State), Result: oc.Result, Reason: oc.Reason, Ignored: oc.Ignored}
		}
		v.Children = append(v.Children, r)
	}
	if o.json {
		return printJSON(o.stdout, v)
	}
	return printFields(o.stdout, jobFields(&j.Job, v))
}

// refOf looks up the state of a job of a flow.
func refOf(ctx context.Context, s store, r backend.JobRef) (ref, error) {
	out := ref{Queue: r.Queue, ID: r.ID, State: "removed"}
	j, err := s.Job(ctx, r.Queue, r.ID)
	switch {
	case err == nil:
		out.State = string(j.State)
	case !errors.Is(err, backend.ErrNotFound):
		return out, err
	}
	return out, nil
}

func jobFields(j *backend.Job, v jobView) [][2]string {
	f := [][2]string{
		{"queue", j.Queue}, {"id", j.ID}, {"name", j.Name}, {"state", string(j.State)},
		{"priority", itoa(j.Priority)},
		{"attempts", fmt.Sprintf("%d of %d made", j.AttemptsMade, j.Attempts)},
		{"created", stamp(j.CreatedAt)},
	}
	add := func(name, value string) {
		if value != "" {
			f = append(f, [2]string{name, value})
		}
	}
	if j.StalledCount > 0 {
		add("stalled", itoa(j.StalledCount)+" times")
	}
	add("runs at", stamp(j.RunAt))
	add("processed", stamp(j.ProcessedAt))
	add("finished", stamp(j.FinishedAt))
	add("worker", j.Worker)
	if j.State == backend.StateActive {
		add("lease until", stamp(j.LeaseExpiresAt))
	}
	if j.CancelRequested {
		add("cancelling", backend.CancelFailure(j.CancelReason))
	}
	add("scheduler", j.SchedulerID)
	add("data", payload(j.Data).text(0))
	add("progress", payload(j.Progress).text(0))
	add("result", payload(j.Result).text(0))
	add("error", j.FailedReason)
	add("stack", strings.Join(j.Stacktrace, "\n"))
	if v.Parent != nil {
		add("parent", v.Parent.Queue+"/"+v.Parent.ID+" ("+v.Parent.State+")")
	}
	if len(v.Children) > 0 {
		lines := make([]string, len(v.Children))
		for i, c := range v.Children {
			lines[i] = c.Queue + "/" + c.ID + " (" + c.State + ")"
			switch {
			case c.Outcome == nil:
				lines[i] += " pending"
			case c.Outcome.Reason != "":
				lines[i] += " " + c.Outcome.State + ": " + c.Outcome.Reason
			default:
				lines[i] += " " + c.Outcome.State + " " + c.Outcome.Result.text(60)
			}
		}
		add("children", strings.Join(lines, "\n"))
	}
	if len(v.Logs) > 0 {
		add(fmt.Sprintf("logs (%d)", len(v.Logs)), strings.Join(v.Logs, "\n"))
	}
	return f
}

// jobAction is a command that acts on one job and says what it did.
type jobAction struct {
	use, short, long, done string
	act                    func(ctx context.Context, q *queue.Queue, id string) (note string, err error)
	flags                  func(cmd *cobra.Command)
}

func (a jobAction) command(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   a.use + " <queue> <id>",
		Short: a.short,
		Long:  a.long,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				note, err := a.act(cmd.Context(), q, args[1])
				if err != nil {
					return err
				}
				if o.json {
					return printJSON(o.stdout, map[string]string{"queue": args[0], "id": args[1], "done": a.done})
				}
				_, err = fmt.Fprintf(o.stdout, "%s %s/%s%s\n", a.done, args[0], args[1], note)
				return err
			})
		},
	}
	if a.flags != nil {
		a.flags(cmd)
	}
	return cmd
}

func newRetryCmd(o *options) *cobra.Command {
	return jobAction{
		use: "retry", done: "retried",
		short: "Move a failed or completed job back to waiting",
		long: `Move a failed or completed job back to waiting, at the back of its
priority, with its attempts reset and its result and error cleared. A job
in another state is refused (exit status 5).`,
		act: func(ctx context.Context, q *queue.Queue, id string) (string, error) { return "", q.Retry(ctx, id) },
	}.command(o)
}

func newPromoteCmd(o *options) *cobra.Command {
	return jobAction{
		use: "promote", done: "promoted",
		short: "Run a delayed job now",
		long:  `Move a delayed job to waiting now. A job that is not delayed is refused (exit status 5).`,
		act:   func(ctx context.Context, q *queue.Queue, id string) (string, error) { return "", q.Promote(ctx, id) },
	}.command(o)
}

// bulkAction is a command that acts on up to --limit jobs of a queue and
// says how many.
func bulkAction(o *options, use, short, long, done string, act func(ctx context.Context, q *queue.Queue, limit int) (int, error), flags func(*cobra.Command)) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   use + " <queue>",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return &usageError{err: fmt.Errorf("--limit %d is negative", limit)}
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				n, err := act(cmd.Context(), q, limit)
				if err != nil {
					return err
				}
				if o.json {
					return printJSON(o.stdout, map[string]any{"queue": args[0], "done": done, "jobs": n})
				}
				_, err = fmt.Fprintf(o.stdout, "%s %d jobs of %s\n", done, n, args[0])
				return err
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "the most jobs to act on (0: all)")
	if flags != nil {
		flags(cmd)
	}
	return cmd
}

func newRetryJobsCmd(o *options) *cobra.Command {
	var state string
	return bulkAction(o, "retry-jobs", "Move the failed (or completed) jobs of a queue back to waiting",
		`Move up to --limit jobs of --state (failed, the default, or completed) back
to waiting, those that finished first first, with their attempts reset. It
works in steps of a thousand jobs, each atomic.`,
		"retried",
		func(ctx context.Context, q *queue.Queue, limit int) (int, error) {
			st, err := parseState(state, backend.StateFailed, backend.StateCompleted)
			if err != nil {
				return 0, err
			}
			return q.RetryJobs(ctx, st, limit)
		},
		func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&state, "state", "failed", "failed or completed")
		})
}

func newPromoteJobsCmd(o *options) *cobra.Command {
	return bulkAction(o, "promote-jobs", "Run the delayed jobs of a queue now",
		`Move up to --limit delayed jobs of a queue (0: all) to waiting now, those
due first first. It works in steps of a thousand jobs, each atomic.`,
		"promoted",
		func(ctx context.Context, q *queue.Queue, limit int) (int, error) { return q.PromoteJobs(ctx, limit) },
		nil)
}

func newRemoveCmd(o *options) *cobra.Command {
	return jobAction{
		use: "remove", done: "removed",
		short: "Remove a job that is not running",
		long: `Remove a job, and the jobs of its flow below it that are not running. An
active job, and the next run of a job scheduler (remove the scheduler
instead), are refused (exit status 5).`,
		act: func(ctx context.Context, q *queue.Queue, id string) (string, error) { return "", q.RemoveJob(ctx, id) },
	}.command(o)
}

func newCancelCmd(o *options) *cobra.Command {
	var reason string
	return jobAction{
		use: "cancel", done: "cancelled",
		short: "Fail a job at once, or stop it if it runs",
		long: `Cancel a job: a waiting or delayed one fails at once and is not retried; a
running one has its handler's context cancelled by its worker, within one
lease renewal, and fails. A finished job is refused (exit status 5).`,
		act: func(ctx context.Context, q *queue.Queue, id string) (string, error) {
			if err := q.Cancel(ctx, id, reason); err != nil {
				return "", err
			}
			if j, err := q.Job(ctx, id); err == nil && j.State == backend.StateActive {
				return " (it runs: its worker stops it)", nil
			}
			return "", nil
		},
		flags: func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&reason, "reason", "", "why, for the job's failure reason")
		},
	}.command(o)
}

func newCleanCmd(o *options) *cobra.Command {
	var (
		state string
		grace time.Duration
		limit int
	)
	cmd := &cobra.Command{
		Use:   "clean <queue>",
		Short: "Remove the old jobs of one state",
		Long: `Remove the jobs of one state (completed, failed, waiting or delayed) that
entered it longer than --grace ago, at most --limit of them (0: all). The
next runs of job schedulers stay.`,
		Example: `  drover --bolt jobs.db clean mail --state completed --grace 24h
  drover --bolt jobs.db clean mail --state failed --limit 1000 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseState(state, backend.StateCompleted, backend.StateFailed, backend.StateWaiting, backend.StateDelayed)
			if err != nil {
				return err
			}
			if grace < 0 || limit < 0 {
				return usagef("--grace %v --limit %d: want 0 or more", grace, limit)
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				ids, err := q.Clean(cmd.Context(), st, grace, limit)
				if err != nil {
					return err
				}
				if o.json {
					if ids == nil {
						ids = []string{}
					}
					return printJSON(o.stdout, map[string]any{"queue": args[0], "removed": len(ids), "ids": ids})
				}
				_, err = fmt.Fprintf(o.stdout, "removed %d %s jobs from %s\n", len(ids), st, args[0])
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&state, "state", "s", string(backend.StateCompleted), "the state: completed, failed, waiting or delayed")
	f.DurationVar(&grace, "grace", 0, "keep the jobs that entered the state more recently than this")
	f.IntVarP(&limit, "limit", "n", 0, "remove at most this many (0: all)")
	return cmd
}

func newDrainCmd(o *options) *cobra.Command {
	var delayed bool
	cmd := &cobra.Command{
		Use:   "drain <queue>",
		Short: "Remove the waiting jobs of a queue",
		Long: `Remove the waiting jobs of a queue, and with --delayed the delayed ones too.
Running jobs, flows waiting for children and the next runs of job
schedulers stay.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				n, err := q.Drain(cmd.Context(), delayed)
				if err != nil {
					return err
				}
				if o.json {
					return printJSON(o.stdout, map[string]any{"queue": args[0], "removed": n})
				}
				_, err = fmt.Fprintf(o.stdout, "removed %d jobs from %s\n", n, args[0])
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&delayed, "delayed", false, "remove the delayed jobs too")
	return cmd
}

func newPauseCmd(o *options, pause bool) *cobra.Command {
	use, short, done := "resume", "Let workers take jobs of a queue again", "resumed"
	if pause {
		use, short, done = "pause", "Stop workers from taking jobs of a queue (adds go on)", "paused"
	}
	return &cobra.Command{
		Use:   use + " <queue>",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				var err error
				if pause {
					err = q.Pause(cmd.Context())
				} else {
					err = q.Resume(cmd.Context())
				}
				if err != nil {
					return err
				}
				if o.json {
					return printJSON(o.stdout, map[string]any{"queue": args[0], "paused": pause})
				}
				_, err = fmt.Fprintf(o.stdout, "%s %s\n", done, args[0])
				return err
			})
		},
	}
}

func newObliterateCmd(o *options) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "obliterate <queue>",
		Short: "Remove a queue with all its jobs, events and schedulers",
		Long: `Remove a queue and everything in it: its jobs in every state, their logs,
its event log and its job schedulers. Jobs of flows in other queues stay
consistent (a parent elsewhere no longer waits for a child that was here).
Job and event IDs are not reused afterwards.

A queue with running jobs is refused (exit status 5) unless --force is
given; with --force those jobs go too, and their workers find their
leases lost when they try to settle them. A queue the store does not know
is not found (exit status 3).`,
		Example: `  drover --bolt jobs.db obliterate old-mail
  drover --redis redis://localhost:6379 obliterate old-mail --force --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, name := cmd.Context(), args[0]
			return o.withQueue(name, func(s store, q *queue.Queue) error {
				names, err := s.Queues(ctx)
				if err != nil {
					return err
				}
				if !slices.Contains(names, name) {
					return fmt.Errorf("%w: no queue %s", backend.ErrNotFound, name)
				}
				c, err := q.Counts(ctx)
				if err != nil {
					return err
				}
				if err := q.Obliterate(ctx, force); err != nil {
					if errors.Is(err, backend.ErrJobActive) {
						return fmt.Errorf("%w; pass --force to remove the running jobs too", err)
					}
					return err
				}
				jobs := c.Total()
				if o.json {
					return printJSON(o.stdout, map[string]any{"queue": name, "obliterated": true, "jobs": jobs})
				}
				_, err = fmt.Fprintf(o.stdout, "obliterated %s (%d jobs)\n", name, jobs)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "obliterate the queue even while jobs of it run")
	return cmd
}
