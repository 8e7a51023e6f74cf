package queue_test

import (
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"unsafe"

	"github.com/droverhq/drover/queue"
)

// goroutineID is the number the runtime gives the calling goroutine in
// its stack traces.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf)
	return string(f[1]) // "goroutine N [running]:"
}

// idleHandlerGoroutines returns the numbers of the goroutines waiting in
// a worker's pool for an attempt to run.
func idleHandlerGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ids []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "handlerPool).loop") && strings.Contains(g, "[select") {
			ids = append(ids, strings.Fields(g)[1])
		}
	}
	return ids
}

// waitForOneIdleHandler waits until the goroutine of a worker's first
// attempt waits for another.
func waitForOneIdleHandler(t *testing.T) {
	t.Helper()
	waitFor(t, "the first attempt's goroutine to wait for another", func() bool {
		return len(idleHandlerGoroutines()) == 1
	})
}

func TestWorkerRunsTheNextAttemptOnAnIdleHandlerGoroutine(t *testing.T) {
	e := newWenv(t)
	ran := make(chan string, 2)
	w := e.start(func(ctx context.Context, job *queue.Job) ([]byte, error) {
		ran <- goroutineID()
		return nil, nil
	}, &queue.WorkerOptions{Concurrency: 1})
	e.add("first", nil)
	first := recv(t, "first attempt", ran)
	waitForOneIdleHandler(t)
	if idle := idleHandlerGoroutines(); idle[0] != first {
		t.Fatalf("idle handler goroutine %s, want %s, which ran the first attempt", idle[0], first)
	}
	e.add("second", nil)
	if second := recv(t, "second attempt", ran); second != first {
		t.Errorf("second attempt ran on goroutine %s, want %s, idle since the first", second, first)
	}

	// The worker owns the goroutines that wait: they are gone once it
	// has stopped.
	e.stop(w)
	if idle := idleHandlerGoroutines(); len(idle) != 0 {
		t.Errorf("after Stop, handler goroutines %v still wait for attempts", idle)
	}
}

// goroutineLabels returns the profiler labels of the goroutines in whose
// stacks fn appears, as the goroutine profile prints them.
func goroutineLabels(t *testing.T, fn string) []string {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	var labels []string
	for rec := range strings.SplitSeq(buf.String(), "\n\n") {
		if !strings.Contains(rec, fn) {
			continue
		}
		l := ""
		for line := range strings.SplitSeq(rec, "\n") {
			if after, ok := strings.CutPrefix(line, "# labels: "); ok {
				l = after
			}
		}
		labels = append(labels, l)
	}
	return labels
}

//go:noinline
func labelsOfThisHandler(t *testing.T) []string {
	return goroutineLabels(t, "queue_test.labelsOfThisHandler")
}

func TestWorkerAttemptsStartWithTheProfilerLabelsOfTheWorkersContext(t *testing.T) {
	e := newWenv(t)
	e.ctx = pprof.WithLabels(context.Background(), pprof.Labels("app", "drover-test"))
	seen := make(chan []string, 2)
	e.start(func(ctx context.Context, job *queue.Job) ([]byte, error) {
		seen <- labelsOfThisHandler(t)
		// A handler that labels its goroutine, and leaves the labels on.
		pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("job", job.ID)))
		return nil, nil
	}, &queue.WorkerOptions{Concurrency: 1})
	first := e.add("first", nil)
	want := `{"app":"drover-test"}`
	if got := recv(t, "first attempt", seen); len(got) != 1 || got[0] != want {
		t.Fatalf("first attempt's goroutine labels %q, want [%s]", got, want)
	}
	waitForOneIdleHandler(t)
	e.add("second", nil)
	if got := recv(t, "second attempt", seen); len(got) != 1 || got[0] != want {
		t.Errorf("second attempt's goroutine labels %q, want [%s], not the labels job %s left", got, want, first.ID)
	}
}

// useStack uses about n bytes of stack below its caller.
//
//go:noinline
func useStack(n int) byte {
	var frame [512]byte
	frame[n%len(frame)] = byte(n)
	if n <= len(frame) {
		return frame[0]
	}
	return useStack(n-len(frame)) + frame[n%len(frame)]
}

func TestWorkerHandlerGoroutinesKeepTheStackTheyGrew(t *testing.T) {
	e := newWenv(t)
	at := make(chan uintptr, 2)
	e.start(func(ctx context.Context, job *queue.Job) ([]byte, error) {
		var here byte // where this frame is: it moves if the stack does
		if job.Name == "first" {
			useStack(6 << 10) // as deep as a traced attempt
		}
		at <- uintptr(unsafe.Pointer(&here))
		return nil, nil
	}, &queue.WorkerOptions{Concurrency: 1})
	e.add("first", nil)
	first := recv(t, "first attempt", at)
	waitForOneIdleHandler(t)
	// A GC halves the stack of every goroutine that uses under a quarter
	// of its own, and copies what it uses to the new one.
	runtime.GC()
	e.add("second", nil)
	if second := recv(t, "second attempt", at); second != first {
		t.Errorf("the second attempt's handler frame is at %#x, the first's at %#x: "+
			"the GC moved the idle goroutine's stack to a smaller one, which the next deep attempt grows again", second, first)
	}
}
