package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/queue"
)

func newSchedulersCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "schedulers",
		Aliases: []string{"scheduler"},
		Short:   "List, show and remove job schedulers",
		Long: `List, show and remove the job schedulers of a queue: the records that
repeat a job every interval or on a cron pattern.`,
	}
	var offset, limit int
	list := &cobra.Command{
		Use:   "list <queue>",
		Short: "List the job schedulers of a queue, by ID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if offset < 0 || limit < 1 {
				return usagef("--offset %d --limit %d: want an offset of 0 or more and a limit of 1 or more", offset, limit)
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				ss, err := q.JobSchedulers(cmd.Context(), queue.Page{Offset: offset, Limit: limit})
				if err != nil {
					return err
				}
				if o.json {
					out := make([]scheduler, len(ss))
					for i, s := range ss {
						out[i] = schedulerOf(args[0], s)
					}
					return printJSON(o.stdout, out)
				}
				rows := make([][]string, len(ss))
				for i, s := range ss {
					rows[i] = []string{s.ID, repeatText(s.Repeat), s.Template.Name, stamp(s.Next), itoa(s.Iterations)}
				}
				return printTable(o.stdout, []string{"ID", "REPEAT", "JOB", "NEXT", "ITERATIONS"}, rows)
			})
		},
	}
	list.Flags().IntVar(&offset, "offset", 0, "schedulers to skip")
	list.Flags().IntVarP(&limit, "limit", "n", 100, "schedulers to list")
	show := &cobra.Command{
		Use:   "show <queue> <id>",
		Short: "Show one job scheduler: its rule, job template and planned runs",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				s, err := q.JobScheduler(cmd.Context(), args[1])
				if err != nil {
					return err
				}
				v := schedulerOf(args[0], s)
				if o.json {
					return printJSON(o.stdout, v)
				}
				upcoming := make([]string, len(s.Upcoming))
				for i, t := range s.Upcoming {
					upcoming[i] = stamp(t)
				}
				f := [][2]string{
					{"queue", v.Queue}, {"id", v.ID}, {"repeat", repeatText(s.Repeat)},
					{"job", v.Name}, {"data", v.Data.text(0)},
					{"priority", itoa(v.Priority)}, {"attempts", itoa(v.Attempts)},
					{"next", stamp(s.Next)}, {"upcoming", strings.Join(upcoming, "\n")},
					{"iterations", itoa(s.Iterations)}, {"revision", fmt.Sprint(s.Revision)},
					{"updated", stamp(s.UpdatedAt)},
				}
				return printFields(o.stdout, f)
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove <queue> <id>",
		Short: "Remove a job scheduler and its next run",
		Long: `Remove a job scheduler and its pending run, in one step. Runs that are
running or finished stay.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				if err := q.RemoveJobScheduler(cmd.Context(), args[1]); err != nil {
					return err
				}
				if o.json {
					return printJSON(o.stdout, map[string]string{"queue": args[0], "id": args[1], "done": "removed"})
				}
				_, err := fmt.Fprintf(o.stdout, "removed scheduler %s/%s\n", args[0], args[1])
				return err
			})
		},
	}
	cmd.AddCommand(list, show, remove)
	return cmd
}

// scheduler is a job scheduler in output.
type scheduler struct {
	Queue      string     `json:"queue"`
	ID         string     `json:"id"`
	Every      string     `json:"every,omitempty"`
	Pattern    string     `json:"pattern,omitempty"`
	TZ         string     `json:"tz,omitempty"`
	StartDate  jsonTime   `json:"start_date,omitzero"`
	EndDate    jsonTime   `json:"end_date,omitzero"`
	Limit      int        `json:"limit,omitempty"`
	Name       string     `json:"name"`
	Data       payload    `json:"data"`
	Priority   int        `json:"priority"`
	Attempts   int        `json:"attempts"`
	Next       jsonTime   `json:"next,omitzero"`
	Upcoming   []jsonTime `json:"upcoming"`
	Iterations int        `json:"iterations"`
	Revision   uint64     `json:"revision"`
	UpdatedAt  jsonTime   `json:"updated_at"`
}

func schedulerOf(q string, s *queue.JobScheduler) scheduler {
	r := s.Repeat
	out := scheduler{
		Queue: q, ID: s.ID, Pattern: r.Pattern, TZ: r.TZ,
		StartDate: jsonTime{r.StartDate}, EndDate: jsonTime{r.EndDate}, Limit: r.Limit,
		Name: s.Template.Name, Data: s.Template.Data,
		Next: jsonTime{s.Next}, Upcoming: make([]jsonTime, len(s.Upcoming)),
		Iterations: s.Iterations, Revision: s.Revision, UpdatedAt: jsonTime{s.UpdatedAt},
	}
	if r.Every > 0 {
		out.Every = r.Every.String()
	}
	if o := s.Template.Options; o != nil {
		out.Priority, out.Attempts = o.Priority, o.Attempts
	}
	for i, t := range s.Upcoming {
		out.Upcoming[i] = jsonTime{t}
	}
	return out
}

// repeatText says a repeat rule in a few words.
func repeatText(r queue.Repeat) string {
	var parts []string
	if r.Every > 0 {
		parts = append(parts, "every "+r.Every.String())
	}
	if r.Pattern != "" {
		p := "cron " + r.Pattern
		if r.TZ != "" {
			p += " " + r.TZ
		}
		parts = append(parts, p)
	}
	if r.Limit > 0 {
		parts = append(parts, fmt.Sprintf("%d times", r.Limit))
	}
	if !r.EndDate.IsZero() {
		parts = append(parts, "until "+stamp(r.EndDate))
	}
	return strings.Join(parts, ", ")
}
