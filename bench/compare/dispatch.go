package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

type dispatchStats struct {
	p50, p99, max float64 // milliseconds
	used          float64 // distinct workers per round, averaged
}

type workerEvent struct {
	child   int
	kind    string // ready, start, done
	payload string
	at      int64 // unix nanoseconds
}

// dispatch starts cfg.Workers worker processes of concurrency 1, lets them
// go idle, then adds cfg.Rounds bulks of cfg.Workers jobs. Each job's
// latency runs from its add returning to its handler starting.
func dispatch(ctx context.Context, s system, cfg config, exe string) (dispatchStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan workerEvent, 64)
	var stdins []io.WriteCloser
	var cmds []*exec.Cmd
	var readers sync.WaitGroup
	defer func() {
		for _, w := range stdins {
			w.Close()
		}
		for _, c := range cmds {
			waitOrKill(c)
		}
		readers.Wait()
	}()
	for i := range cfg.Workers {
		cmd := exec.CommandContext(ctx, exe, "-worker", s.Name(), "-addr", cfg.Addr, "-jobtime", cfg.JobTime.String())
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return dispatchStats{}, err
		}
		outp, err := cmd.StdoutPipe()
		if err != nil {
			return dispatchStats{}, err
		}
		if err := cmd.Start(); err != nil {
			return dispatchStats{}, fmt.Errorf("start worker process: %w", err)
		}
		stdins = append(stdins, in)
		cmds = append(cmds, cmd)
		readers.Go(func() {
			sc := bufio.NewScanner(outp)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				ev := workerEvent{child: i, kind: f[0]}
				if len(f) == 3 {
					ev.payload = f[1]
					ev.at, _ = strconv.ParseInt(f[2], 10, 64)
				}
				select {
				case events <- ev:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	if err := expect(ctx, events, "ready", cfg.Workers, 30*time.Second, nil); err != nil {
		return dispatchStats{}, err
	}
	time.Sleep(500 * time.Millisecond) // let every worker settle into its idle wait

	var lats []float64
	var used float64
	for r := range cfg.Rounds {
		payloads := make([][]byte, cfg.Workers)
		for i := range payloads {
			payloads[i] = fmt.Appendf(nil, "r%d-%d", r, i)
		}
		added := make(map[string]int64, cfg.Workers)
		err := s.AddBulk(ctx, payloads)
		now := time.Now().UnixNano()
		if err == errNoBulk {
			// One by one: each job's clock starts when its own add returns.
			for _, p := range payloads {
				if err := s.Add(ctx, p); err != nil {
					return dispatchStats{}, err
				}
				added[string(p)] = time.Now().UnixNano()
			}
		} else if err != nil {
			return dispatchStats{}, err
		} else {
			for _, p := range payloads {
				added[string(p)] = now
			}
		}
		children := map[int]bool{}
		// A worker may finish one job and start another before the
		// others start, so starts and ends come interleaved.
		err = expect(ctx, events, "", 2*cfg.Workers, 20*time.Second, func(ev workerEvent) error {
			switch ev.kind {
			case "start":
				lats = append(lats, float64(ev.at-added[ev.payload])/1e6)
				children[ev.child] = true
			case "done":
			default:
				return fmt.Errorf("worker %d: unexpected %q", ev.child, ev.kind)
			}
			return nil
		})
		if err != nil {
			return dispatchStats{}, fmt.Errorf("round %d: %w", r, err)
		}
		used += float64(len(children))
		time.Sleep(200 * time.Millisecond) // idle again before the next bulk
	}
	sorted := sortedCopy(lats)
	return dispatchStats{
		p50:  percentile(sorted, 50),
		p99:  percentile(sorted, 99),
		max:  sorted[len(sorted)-1],
		used: used / float64(cfg.Rounds),
	}, nil
}

// expect reads n events, of one kind unless kind is empty, passing each
// to f.
func expect(ctx context.Context, events <-chan workerEvent, kind string, n int, timeout time.Duration, f func(workerEvent) error) error {
	deadline := time.After(timeout)
	for got := 0; got < n; {
		select {
		case ev := <-events:
			if kind != "" && ev.kind != kind {
				return fmt.Errorf("worker %d: got %q while waiting for %q", ev.child, ev.kind, kind)
			}
			if f != nil {
				if err := f(ev); err != nil {
					return err
				}
			}
			got++
		case <-deadline:
			return fmt.Errorf("%d of %d %q events after %v", got, n, kind, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func waitOrKill(c *exec.Cmd) {
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-done
	}
}

// runWorker is the worker process of the dispatch run: it announces each
// job's start and end on stdout and exits when stdin closes.
func runWorker(ctx context.Context, name, addr string, jobTime time.Duration) error {
	s, err := newSystem(name, addr)
	if err != nil {
		return err
	}
	defer s.Close()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format, args...)
		out.Flush()
	}
	stop, err := s.StartWorker(ctx, 1, func(p []byte) {
		say("start %s %d\n", p, time.Now().UnixNano())
		time.Sleep(jobTime)
		say("done %s 0\n", p)
	})
	if err != nil {
		return err
	}
	say("ready\n")
	io.Copy(io.Discard, os.Stdin)
	stop()
	return nil
}
