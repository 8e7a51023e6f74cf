package queue_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

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

func TestWorkerRunsTheNextAttemptOnAnIdleHandlerGoroutine(t *testing.T) {
	e := newWenv(t)
	ran := make(chan string, 2)
	w := e.start(func(ctx context.Context, job *queue.Job) ([]byte, error) {
		ran <- goroutineID()
		return nil, nil
	}, &queue.WorkerOptions{Concurrency: 1})
	e.add("first", nil)
	first := recv(t, "first attempt", ran)
	waitFor(t, "the first attempt's goroutine to wait for another", func() bool {
		return len(idleHandlerGoroutines()) == 1
	})
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
