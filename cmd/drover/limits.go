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
		concurrency, rate int
		per, hold         time.Duration
		clear             bool
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
			f := cmd.Flags()
			set := f.Changed("concurrency") || f.Changed("rate") || f.Changed("per")
			if set && clear {
				return usagef("--clear goes without --concurrency, --rate and --per")
			}
			return o.withQueue(args[0], func(_ store, q *queue.Queue) error {
				ctx := cmd.Context()
				switch {
				case set || clear:
					if err := q.SetLimits(ctx, queue.Limits{Concurrency: concurrency, Rate: rate, RatePer: per}); err != nil {
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
	f := cmd.Flags()
	f.IntVar(&concurrency, "concurrency", 0, "the most jobs active at once (0: no limit)")
	f.IntVar(&rate, "rate", 0, "the most jobs started per --per (0: no limit)")
	f.DurationVar(&per, "per", 0, "the period of --rate")
	f.BoolVar(&clear, "clear", false, "lift every limit")
	f.DurationVar(&hold, "hold", 0, "keep every job from starting for this long")
	return cmd
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
