package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/internal/eventtally"
)

// withStore opens the store for the length of fn.
func (o *options) withStore(fn func(s store) error) error {
	s, closeStore, err := o.openStore()
	if err != nil {
		return err
	}
	defer closeStore()
	return fn(s)
}

func newQueuesCmd(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "queues",
		Short: "List the queues of the store, with their counts",
		Long: `List every queue of the store with the number of its jobs in each state,
and whether it is paused. A queue stays listed once its jobs are gone.`,
		Example: `  drover --bolt jobs.db queues
  drover --redis redis://localhost:6379/0 queues --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withStore(func(s store) error {
				cs, err := countAll(cmd.Context(), s, nil)
				if err != nil {
					return err
				}
				return o.printCounts(cs)
			})
		},
	}
}

func (o *options) printCounts(cs []counts) error {
	if o.json {
		return printJSON(o.stdout, cs)
	}
	return printCounts(o.stdout, cs)
}

// countAll returns the counts of names, or of every queue when names is
// empty.
func countAll(ctx context.Context, s store, names []string) ([]counts, error) {
	if len(names) == 0 {
		var err error
		if names, err = s.Queues(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]counts, 0, len(names))
	for _, n := range names {
		q, err := queueOf(s, n)
		if err != nil {
			return nil, err
		}
		c, err := q.Counts(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, countsOf(n, c))
	}
	return out, nil
}

func newStatsCmd(o *options) *cobra.Command {
	var (
		watch    bool
		interval time.Duration
		count    int
	)
	cmd := &cobra.Command{
		Use:     "stats [queue...]",
		Aliases: []string{"counts"},
		Short:   "Print the counts of queues, once or live",
		Long: `Print the number of jobs in each state of the queues named (all queues when
none is), and whether each is paused. With --watch, print them again every
--interval: on a terminal the view is redrawn in place; with --json each
round is one line, {"time": …, "queues": […]}. Ctrl-C stops watching.

From the second round on, --watch also prints how many jobs were added,
completed and failed (for good) a second since the round before, read from
each queue's event log: ADDED/S, COMPLETED/S and FAILED/S, and in JSON each
queue's "rates": {"seconds", "added", "completed", "failed" (the events of
the period) and "added_per_second", "completed_per_second",
"failed_per_second"}. A round reads at most 100,000 events of a queue; the
rates of a queue busier than that lag and catch up later.`,
		Example: `  drover --bolt jobs.db stats mail
  drover --redis redis://localhost:6379 stats --watch --interval 1s
  drover --admin unix:///run/app/jobs.db.sock stats --watch --json --count 10`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if interval <= 0 {
				return usagef("--interval %v: want a positive duration", interval)
			}
			if count < 0 {
				return usagef("--count %d: want 0 or more", count)
			}
			return o.withStore(func(s store) error {
				if !watch {
					cs, err := countAll(cmd.Context(), s, names)
					if err != nil {
						return err
					}
					return o.printCounts(cs)
				}
				return o.watch(cmd.Context(), s, names, interval, count)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&watch, "watch", "w", false, "print the counts again every --interval until interrupted")
	f.DurationVar(&interval, "interval", 2*time.Second, "time between two rounds of --watch")
	f.IntVar(&count, "count", 0, "with --watch, stop after this many rounds (0: until interrupted)")
	return cmd
}

// watch prints the counts every interval, count times (0: until ctx ends),
// and from the second round on the rates since the round before.
func (o *options) watch(ctx context.Context, s store, names []string, interval time.Duration, count int) error {
	redraw := !o.json && isTerminal(o.stdout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	r := newRater()
	for round := 1; ; round++ {
		cs, err := countAll(ctx, s, names)
		if err == nil {
			err = r.rate(ctx, s, cs)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		now := time.Now()
		switch {
		case o.json:
			err = printJSONLine(o.stdout, struct {
				Time   jsonTime `json:"time"`
				Queues []counts `json:"queues"`
			}{jsonTime{now}, cs})
		case redraw:
			// Home the cursor and clear the screen, then draw.
			fmt.Fprint(o.stdout, "\x1b[H\x1b[2J")
			fmt.Fprintf(o.stdout, "%s, every %v (Ctrl-C to stop)\n\n", stamp(now), interval)
			err = printRatedCounts(o.stdout, cs)
		default:
			if round > 1 {
				fmt.Fprintln(o.stdout)
			}
			fmt.Fprintln(o.stdout, stamp(now))
			err = printRatedCounts(o.stdout, cs)
		}
		if err != nil || round == count {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// rateEvents is the most events a round of stats --watch reads from the
// log of one queue; beyond it the rates lag, and catch up in the rounds
// after.
const rateEvents = backend.DefaultEventCount

// rater tells the rates of queues, from the events their logs appended
// between two rounds of stats --watch.
type rater struct {
	queues map[string]*rated
}

// rated is the tally of one queue's events, and when it was last read.
type rated struct {
	eventtally.Tally
	at time.Time
}

func newRater() *rater { return &rater{queues: make(map[string]*rated)} }

// rate reads the events of each queue of cs appended since the last
// round and sets the rates of those seen in a round before.
func (r *rater) rate(ctx context.Context, s store, cs []counts) error {
	for i := range cs {
		name := cs[i].Queue
		last, err := s.LastEventID(ctx, name)
		if err != nil {
			return err
		}
		now := time.Now()
		q, ok := r.queues[name]
		if !ok {
			// First seen: the rates start from here.
			r.queues[name] = &rated{Tally: eventtally.Tally{Cursor: last}, at: now}
			continue
		}
		before := q.Counts
		if err := q.Read(ctx, s, name, last, rateEvents, 1000); err != nil {
			return err
		}
		cs[i].Rates = ratesOf(before, q.Counts, now.Sub(q.at))
		q.at = now
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
