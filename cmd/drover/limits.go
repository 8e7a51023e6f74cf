package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

func newLimitsCmd(o *options) *cobra.Command {
	var (
		lf   limitFlags
		hold time.Duration
	)
	cmd := &cobra.Command{
		Use:   "limits <queue>",
		Short: "Show or set a queue's concurrency and rate limits, or hold it",
		Long: `Show a queue's limits: the most jobs active at once, the most starts per
period, and what keeps jobs from starting now (a hold, the rate limit).

With --concurrency, --rate and --per (set together), or --clear, replace
them for every worker at once. With --hold D, keep every job of the queue
from starting for D.`,
		Example: `  drover --bolt jobs.db limits emails
  drover --bolt jobs.db limits emails --concurrency 5 --rate 100 --per 1m
  drover --bolt jobs.db limits emails --hold 30s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := lf.set(cmd)
			if err != nil {
				return err
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				ctx := cmd.Context()
				switch {
				case set:
					if err := q.SetLimits(ctx, lf.limits()); err != nil {
						return err
					}
				case hold != 0:
					if err := q.Hold(ctx, hold); err != nil {
						return err
					}
				}
				l, err := q.Limits(ctx)
				if err != nil {
					return err
				}
				return printLimits(o, args[0], l)
			})
		},
	}
	lf.register(cmd, "")
	cmd.Flags().DurationVar(&hold, "hold", 0, "keep every job from starting for this long")
	return cmd
}

// limitFlags are the flags that set limits: of a queue, or of each of its
// groups.
type limitFlags struct {
	concurrency, rate int
	per               time.Duration
	clear             bool
}

// register adds the flags to cmd; of says whose limits they are.
func (l *limitFlags) register(cmd *cobra.Command, of string) {
	f := cmd.Flags()
	f.IntVar(&l.concurrency, "concurrency", 0, "the most jobs"+of+" active at once (0: no limit)")
	f.IntVar(&l.rate, "rate", 0, "the most jobs"+of+" started per --per (0: no limit)")
	f.DurationVar(&l.per, "per", 0, "the period of --rate")
	f.BoolVar(&l.clear, "clear", false, "lift the limits")
}

// set reports whether the flags of cmd ask to set limits (or to clear
// them), and refuses --clear with a limit.
func (l *limitFlags) set(cmd *cobra.Command) (bool, error) {
	f := cmd.Flags()
	set := f.Changed("concurrency") || f.Changed("rate") || f.Changed("per")
	if set && l.clear {
		return false, usagef("--clear goes without --concurrency, --rate and --per")
	}
	return set || l.clear, nil
}

func (l *limitFlags) limits() queue.Limits {
	return queue.Limits{Concurrency: l.concurrency, Rate: l.rate, RatePer: l.per}
}

func printLimits(o *options, q string, l backend.QueueLimits) error {
	if o.json {
		return printJSON(o.stdout, map[string]any{
			"queue": q, "concurrency": l.Concurrency, "rate": l.Rate, "rate_per": l.RatePer.String(),
			"held_until": jsonTime{l.HeldUntil}, "next_start": jsonTime{l.NextStart},
		})
	}
	none := func(n int, s string) string {
		if n == 0 {
			return "none"
		}
		return s
	}
	return printFields(o.stdout, [][2]string{
		{"queue", q},
		{"concurrency", none(l.Concurrency, itoa(l.Concurrency))},
		{"rate", none(l.Rate, fmt.Sprintf("%d per %v", l.Rate, l.RatePer))},
		{"held until", stamp(l.HeldUntil)},
		{"next start", stamp(l.NextStart)},
	})
}

func newDedupCmd(o *options) *cobra.Command {
	var release bool
	cmd := &cobra.Command{
		Use:   "dedup <queue> <key>",
		Short: "Show which job holds a deduplication key, or release it",
		Long: `Show which job holds a deduplication key of a queue, how long it holds
and whether an add waits to run after the job. With --release, let go of
the key at once (dropping an add kept for later), so that the next add
with it makes a new job. A key no job holds exits with status 3.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				ctx := cmd.Context()
				if release {
					held, err := q.ReleaseDedup(ctx, args[1])
					if err != nil {
						return err
					}
					if o.json {
						return printJSON(o.stdout, map[string]any{"queue": args[0], "key": args[1], "released": held})
					}
					if !held {
						_, err = fmt.Fprintf(o.stdout, "no job held %q in %s\n", args[1], args[0])
						return err
					}
					_, err = fmt.Fprintf(o.stdout, "released %q in %s\n", args[1], args[0])
					return err
				}
				h, err := q.DedupHolder(ctx, args[1])
				if err != nil {
					if errors.Is(err, backend.ErrNotFound) {
						return fmt.Errorf("no job holds key %q in %s: %w", args[1], args[0], err)
					}
					return err
				}
				if o.json {
					return printJSON(o.stdout, map[string]any{"queue": args[0], "key": h.Key, "job": h.JobID,
						"mode": string(h.Mode), "expires_at": jsonTime{h.ExpiresAt}, "deferred": h.Deferred})
				}
				mode := string(h.Mode)
				if mode == "" {
					mode = "until finished"
				}
				return printFields(o.stdout, [][2]string{
					{"key", h.Key}, {"job", h.JobID}, {"mode", mode},
					{"expires", stamp(h.ExpiresAt)}, {"deferred add", fmt.Sprint(h.Deferred)},
				})
			})
		},
	}
	cmd.Flags().BoolVar(&release, "release", false, "let go of the key")
	return cmd
}

func newGroupsCmd(o *options) *cobra.Command {
	var (
		lf                   limitFlags
		limit                int
		pause, resume, after string
	)
	cmd := &cobra.Command{
		Use:   "groups <queue>",
		Short: "List a queue's groups with their counts; limit, pause or resume them",
		Long: `List the groups of a queue that have waiting or active jobs, or are paused,
in name order (--after NAME for the next page), with the limits each group
has. With --concurrency, --rate and --per, or --clear, set the limits of
each group first; with --pause or --resume NAME, pause or resume a group.`,
		Example: `  drover --bolt jobs.db groups exports
  drover --bolt jobs.db groups exports --concurrency 1
  drover --bolt jobs.db groups exports --pause acme`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := lf.set(cmd)
			if err != nil {
				return err
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				ctx := cmd.Context()
				if set {
					if err := q.SetGroupLimits(ctx, lf.limits()); err != nil {
						return err
					}
				}
				if pause != "" {
					if err := q.PauseGroup(ctx, pause); err != nil {
						return err
					}
				}
				if resume != "" {
					if err := q.ResumeGroup(ctx, resume); err != nil {
						return err
					}
				}
				res, err := q.Groups(ctx, after, limit)
				if err != nil {
					return err
				}
				if o.json {
					if res.Groups == nil {
						res.Groups = []backend.GroupInfo{} // [] for scripts, not null
					}
					return printJSON(o.stdout, map[string]any{"queue": args[0], "groups": res.Groups,
						"concurrency": res.Limits.Concurrency, "rate": res.Limits.Rate, "rate_per": res.Limits.RatePer.String()})
				}
				rows := make([][]string, len(res.Groups))
				for i, g := range res.Groups {
					paused := ""
					if g.Paused {
						paused = "yes"
					}
					rows[i] = []string{g.Name, itoa(g.Waiting), itoa(g.Active), paused}
				}
				return printTable(o.stdout, []string{"GROUP", "WAITING", "ACTIVE", "PAUSED"}, rows)
			})
		},
	}
	lf.register(cmd, " of each group")
	f := cmd.Flags()
	f.StringVar(&pause, "pause", "", "pause the group `NAME`")
	f.StringVar(&resume, "resume", "", "resume the group `NAME`")
	f.StringVar(&after, "after", "", "list the groups after `NAME`")
	f.IntVarP(&limit, "limit", "n", 100, "list at most this many groups")
	return cmd
}
