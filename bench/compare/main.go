// Command compare runs the same workloads on drover's Redis store, on asynq
// and on BullMQ against one redis-server it starts on a loopback port, and
// prints one table with the ratios drover/peer. See README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	var (
		cfg      config
		systems  string
		nodeBin  string
		script   string
		jsonOut  string
		worker   string
		addr     string
		jobTime  time.Duration
		timeouts time.Duration
		runs     int
		fromJSON string
	)
	flag.IntVar(&cfg.Jobs, "jobs", 100_000, "jobs added by each add workload (and measured for memory)")
	flag.IntVar(&cfg.ProcessJobs, "process-jobs", 50_000, "jobs waiting before the processing run")
	flag.IntVar(&cfg.Chunk, "chunk", 1_000, "jobs per bulk add")
	flag.IntVar(&cfg.InFlight, "in-flight", 50, "concurrent single adds")
	flag.IntVar(&cfg.Concurrency, "concurrency", 50, "worker concurrency when processing")
	flag.IntVar(&cfg.Workers, "workers", 4, "idle worker processes in the dispatch run")
	flag.IntVar(&cfg.Rounds, "rounds", 20, "bulks in the dispatch run")
	flag.DurationVar(&cfg.JobTime, "dispatch-job-time", 50*time.Millisecond, "how long each dispatch job runs")
	flag.StringVar(&systems, "systems", "drover,asynq,bullmq", "systems to run, comma-separated")
	flag.StringVar(&nodeBin, "node", "node", "Node.js binary for BullMQ")
	flag.StringVar(&script, "bullmq-script", "bullmq.mjs", "the BullMQ driver script")
	flag.StringVar(&jsonOut, "json", "", "also write the rows as JSON to this file")
	flag.StringVar(&worker, "worker", "", "internal: run as a dispatch worker process of this system")
	flag.StringVar(&addr, "addr", "", "internal: Redis address of a worker process")
	flag.DurationVar(&jobTime, "jobtime", 0, "internal: job duration of a worker process")
	flag.DurationVar(&timeouts, "timeout", 30*time.Minute, "give up after this long")
	flag.StringVar(&fromJSON, "table", "", "print the table of rows saved earlier with -json, and run nothing")
	flag.IntVar(&runs, "runs", 1, "run every system this many times, in rotating order, and report the median")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if worker != "" {
		if err := runWorker(ctx, worker, addr, jobTime); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		return
	}
	if fromJSON != "" {
		if err := reprint(fromJSON, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeouts)
	defer cancel()
	if err := run(ctx, cfg, strings.Split(systems, ","), runs, nodeBin, script, jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, systems []string, runs int, nodeBin, script, jsonOut string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	srv, err := startRedis(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	cfg.Addr = srv.Addr
	fmt.Fprintf(os.Stderr, "redis-server %s on %s\n", srv.Version, srv.Addr)

	var all []result
	for r := range max(runs, 1) {
		for i := range systems {
			// Rotate the order so that no system always runs first or
			// last on a machine whose load changes.
			name := strings.TrimSpace(systems[(i+r)%len(systems)])
			start := time.Now()
			fmt.Fprintf(os.Stderr, "%s (run %d of %d): running…\n", name, r+1, max(runs, 1))
			var got []result
			if name == "bullmq" {
				got, err = runBullMQ(ctx, cfg, nodeBin, script)
			} else {
				var s system
				s, err = newSystem(name, cfg.Addr)
				if err == nil {
					got, err = runSystem(ctx, s, cfg, exe)
					s.Close()
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: done in %v\n", name, time.Since(start).Round(time.Second))
			all = append(all, got...)
		}
	}
	rows := medians(all, systems)
	printTable(os.Stdout, rows, cfg, srv.Version)
	if jsonOut != "" {
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

// reprint prints the table of a -json file.
func reprint(path string, cfg config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rows []result
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	printTable(os.Stdout, rows, cfg, "(as saved)")
	return nil
}

// medians folds the rows of several runs into one row per system and
// measurement, with the median value, in the order of systems.
func medians(all []result, systems []string) []result {
	values := map[string][]float64{}
	first := map[string]result{}
	for _, r := range all {
		k := r.System + "\x00" + r.Measurement
		if _, ok := first[k]; !ok {
			first[k] = r
		}
		values[k] = append(values[k], r.Value)
	}
	order := []string{"drover"} // drover's row first, then the peers
	for _, name := range systems {
		if name = strings.TrimSpace(name); name != "drover" {
			order = append(order, name)
		}
	}
	var out []result
	for _, name := range order {
		for _, m := range measurements {
			k := name + "\x00" + m
			r, ok := first[k]
			if !ok {
				continue
			}
			vs := sortedCopy(values[k])
			n := len(vs)
			r.Value = vs[n/2]
			if n%2 == 0 {
				r.Value = (vs[n/2-1] + vs[n/2]) / 2
			}
			if n > 1 {
				r.Note = strings.TrimSpace(fmt.Sprintf("%s; median of %d runs", r.Note, n))
				r.Note = strings.TrimPrefix(r.Note, "; ")
			}
			out = append(out, r)
		}
	}
	return out
}

func newSystem(name, addr string) (system, error) {
	switch name {
	case "asynq":
		return newAsynq(addr), nil
	case "drover":
		return newDrover(addr)
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

// runBullMQ runs the Node driver against the same server; it prints its
// rows as JSON on stdout.
func runBullMQ(ctx context.Context, cfg config, nodeBin, script string) ([]result, error) {
	c := newClient(cfg.Addr)
	err := flush(ctx, c)
	c.Close()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, nodeBin, script,
		"--addr", cfg.Addr,
		"--jobs", fmt.Sprint(cfg.Jobs),
		"--process-jobs", fmt.Sprint(cfg.ProcessJobs),
		"--chunk", fmt.Sprint(cfg.Chunk),
		"--in-flight", fmt.Sprint(cfg.InFlight),
		"--concurrency", fmt.Sprint(cfg.Concurrency),
		"--workers", fmt.Sprint(cfg.Workers),
		"--rounds", fmt.Sprint(cfg.Rounds),
		"--job-time-ms", fmt.Sprint(cfg.JobTime.Milliseconds()),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bullmq driver: %w", err)
	}
	var rows []result
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("bullmq driver output: %w", err)
	}
	return rows, nil
}

// printTable writes the rows as a markdown table, grouped by measurement,
// with drover's value divided by each peer's.
func printTable(w io.Writer, rows []result, cfg config, redisVersion string) {
	fmt.Fprintf(w, "Redis %s on loopback, %d CPUs (%s/%s), %s; %d jobs per add run, %d per processing run.\n\n",
		redisVersion, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), cfg.Jobs, cfg.ProcessJobs)
	fmt.Fprintln(w, "| system | measurement | value | drover/system | note |")
	fmt.Fprintln(w, "|---|---|---:|---:|---|")
	byKey := map[string]result{}
	var systems []string
	for _, r := range rows {
		byKey[r.System+"\x00"+r.Measurement] = r
		if !slices.Contains(systems, r.System) {
			systems = append(systems, r.System)
		}
	}
	for _, m := range measurements {
		d, haveDrover := byKey["drover\x00"+m]
		for _, s := range systems {
			r, ok := byKey[s+"\x00"+m]
			if !ok {
				continue
			}
			value := "n/a"
			if r.Value != 0 || r.Note == "" {
				value = formatValue(r.Value) + " " + r.Unit
			}
			ratio := ""
			if s != "drover" && haveDrover && d.Value != 0 && r.Value != 0 {
				ratio = formatRatio(d.Value/r.Value, higherIsBetter[m])
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", s, m, value, ratio, r.Note)
		}
	}
}

// formatRatio prints drover/peer and says which side it favours; within
// 2% it is a tie.
func formatRatio(x float64, higherIsBetter bool) string {
	digits := "%.2f×"
	if x < 0.1 {
		digits = "%.3f×"
	}
	out := fmt.Sprintf(digits, x)
	switch {
	case x > 0.98 && x < 1.02:
		return out + " (same)"
	case (x > 1) == higherIsBetter:
		return out + " (drover better)"
	}
	return out + " (drover worse)"
}

func formatValue(v float64) string {
	switch {
	case v >= 1000:
		return groupThousands(int64(v + 0.5))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
