package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/droverhq/drover/queue"
)

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "bbolt file path or redis:// URL")
	prefix := fs.String("prefix", "drover", "Redis key prefix")
	name := fs.String("queue", "", "queue name")
	fromFlag := fs.String("from", "now", `where to start: "now", "start", or an event ID to resume after`)
	follow := fs.Bool("follow", true, "keep waiting for new events; false stops at the end of the log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	from, err := parseFrom(*fromFlag)
	if err != nil {
		return err
	}
	b, closeStore, err := openStore(*store, *prefix)
	if err != nil {
		return err
	}
	defer closeStore()
	q, err := queue.New(b, *name, nil)
	if err != nil {
		return err
	}
	sub, err := q.Subscribe(ctx, from, nil)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		readCtx := ctx
		cancel := context.CancelFunc(func() {})
		if !*follow {
			readCtx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
		}
		ev, err := sub.Next(readCtx)
		cancel()
		switch {
		case err == nil:
			fmt.Fprintln(stdout, formatEvent(ev))
		case !*follow && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil
		case ctx.Err() != nil:
			return nil
		default:
			return err
		}
	}
}

func parseFrom(s string) (queue.From, error) {
	switch s {
	case "now":
		return queue.FromNow(), nil
	case "start":
		return queue.FromStart(), nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return queue.From{}, fmt.Errorf(`-from %q: want "now", "start" or an event ID`, s)
	}
	return queue.FromID(id), nil
}

// formatEvent renders one event as one line: ID, time, type, job, details.
func formatEvent(ev queue.Event) string {
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
		line += " progress=" + string(ev.Progress)
	}
	if len(ev.Result) > 0 {
		line += " result=" + truncate(string(ev.Result), 80)
	}
	if ev.Reason != "" {
		line += " reason=" + strconv.Quote(truncate(ev.Reason, 120))
	}
	return line
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
