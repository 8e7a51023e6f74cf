package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/queue"
)

type demoConfig struct {
	dir         string
	single      int
	bulk        int
	workers     int
	concurrency int
}

func newDemoCmd(o *options) *cobra.Command {
	var cfg demoConfig
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Add jobs to a queue in a temporary bbolt file and run workers on them",
		Long: `Add jobs to a queue "demo" in a bbolt file (in a new temporary directory,
removed afterwards, unless --dir is given): emails one by one, thumbnails
in one bulk, delayed reports, urgent alerts and jobs doomed to fail. Then
run workers on them, print the counts as they go, and a summary. The store
flags do not apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo(cmd.Context(), cfg, o.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.dir, "dir", "", "directory for the bbolt file (default: a new temp dir, removed afterwards)")
	f.IntVar(&cfg.single, "single", 50, "jobs to add one by one")
	f.IntVar(&cfg.bulk, "bulk", 2000, "jobs to add in one bulk")
	f.IntVar(&cfg.workers, "workers", 2, "workers to run")
	f.IntVar(&cfg.concurrency, "concurrency", 16, "jobs each worker runs at once")
	return cmd
}

type emailJob struct {
	To string `json:"to"`
}

func demo(ctx context.Context, cfg demoConfig, out io.Writer) error {
	dir := cfg.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "drover-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	path := filepath.Join(dir, "demo.db")
	store, err := bolt.Open(path, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	q, err := queue.New(store, "demo", nil)
	if err != nil {
		return err
	}
	defer q.Close()
	fmt.Fprintf(out, "drover demo: queue %q in %s\n", q.Name(), path)

	start := time.Now()
	// Priorities: smaller numbers run first, and 0, the default, is the
	// highest. The demo's ordinary work runs at priorityNormal and its bulk
	// work at priorityBulk, so that the alerts, at 0, overtake both.
	const priorityNormal, priorityBulk = 5, 10
	// One by one: emails, a few of which fail once and are retried.
	for i := range cfg.single {
		_, err := queue.AddJSON(ctx, q, "send-email", emailJob{To: fmt.Sprintf("user%d@example.com", i)},
			&queue.AddOptions{Priority: priorityNormal, Attempts: 3, Backoff: queue.FixedBackoff(50 * time.Millisecond)})
		if err != nil {
			return err
		}
	}
	// In one bulk: thumbnails, in one atomic step.
	bulk := make([]queue.BulkJob, cfg.bulk)
	for i := range bulk {
		bulk[i] = queue.BulkJob{Name: "thumbnail", Data: fmt.Appendf(nil, `{"image":%d}`, i), Options: &queue.AddOptions{Priority: priorityBulk}}
	}
	if _, err := q.AddBulk(ctx, bulk); err != nil {
		return err
	}
	// Delayed reports, urgent alerts ahead of everything (added last, they
	// still run first), and jobs doomed to fail.
	for i := range 10 {
		if _, err := q.Add(ctx, "report", nil, &queue.AddOptions{Priority: priorityNormal, Delay: time.Duration(i+1) * 100 * time.Millisecond}); err != nil {
			return err
		}
	}
	for range 5 {
		if _, err := q.Add(ctx, "alert", nil, &queue.AddOptions{Priority: 0}); err != nil {
			return err
		}
	}
	for range 5 {
		if _, err := q.Add(ctx, "charge-card", nil, &queue.AddOptions{Priority: priorityNormal, Attempts: 2, Backoff: queue.ExponentialBackoff(20*time.Millisecond, 0.5)}); err != nil {
			return err
		}
	}
	total := cfg.single + cfg.bulk + 20
	fmt.Fprintf(out, "added %d jobs (%d one by one, %d in one bulk, 10 delayed, 5 doomed) in %v\n",
		total, cfg.single, cfg.bulk, time.Since(start).Round(time.Millisecond))

	handler := func(ctx context.Context, job *queue.Job) ([]byte, error) {
		switch job.Name {
		case "send-email":
			var e emailJob
			if err := job.Decode(&e); err != nil {
				return nil, queue.Unrecoverable(err)
			}
			if job.AttemptsMade == 0 && rand.IntN(5) == 0 {
				return nil, errors.New("smtp: connection reset")
			}
			return json.Marshal(map[string]string{"sent": e.To})
		case "charge-card":
			return nil, errors.New("card declined")
		case "thumbnail":
			_ = job.UpdateProgress(ctx, 100)
		}
		select { // pretend to work
		case <-time.After(time.Duration(rand.IntN(3)) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []byte(`"ok"`), nil
	}

	runCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.workers)
	for i := range cfg.workers {
		w, err := queue.NewWorker(store, q.Name(), handler, &queue.WorkerOptions{
			Concurrency: cfg.concurrency,
			Name:        fmt.Sprintf("demo-worker-%d", i+1),
		})
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := w.Run(runCtx); err != nil {
				errs <- err
			}
		})
	}

	err = watch(ctx, q, out, start)
	stopWorkers()
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	if err != nil {
		return err
	}
	return summary(ctx, q, out, start)
}

// watch prints the counts until no job is left to run.
func watch(ctx context.Context, q *queue.Queue, out io.Writer, start time.Time) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := q.Counts(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%6.1fs  waiting %5d  delayed %3d  active %3d  completed %5d  failed %3d\n",
			time.Since(start).Seconds(), c.Waiting, c.Delayed, c.Active, c.Completed, c.Failed)
		if c.Waiting+c.Delayed+c.Active+c.WaitingChildren == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func summary(ctx context.Context, q *queue.Queue, out io.Writer, start time.Time) error {
	c, err := q.Counts(ctx)
	if err != nil {
		return err
	}
	failed, err := q.Jobs(ctx, queue.StateFailed, queue.Page{Limit: 3})
	if err != nil {
		return err
	}
	retried := 0
	done, err := q.Jobs(ctx, queue.StateCompleted, queue.Page{Limit: c.Completed})
	if err != nil {
		return err
	}
	var lastAlert time.Time
	for _, j := range done {
		if j.AttemptsMade > 1 {
			retried++
		}
		if j.Name == "alert" && j.ProcessedAt.After(lastAlert) {
			lastAlert = j.ProcessedAt
		}
	}
	overtaken := 0 // jobs that started before the last alert did
	for _, j := range done {
		if j.Name != "alert" && j.ProcessedAt.Before(lastAlert) {
			overtaken++
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(out, "\ndone in %v: %d completed (%d after a retry), %d failed\n",
		elapsed.Round(time.Millisecond), c.Completed, retried, c.Failed)
	if overtaken == 0 {
		fmt.Fprintln(out, "  the alerts, added last at priority 0, started before every other job")
	} else {
		fmt.Fprintf(out, "  %d jobs started before the last alert\n", overtaken)
	}
	for _, j := range failed {
		fmt.Fprintf(out, "  failed: %s %s after %d attempts: %s\n", j.Name, j.ID, j.AttemptsMade, j.FailedReason)
	}
	return nil
}
