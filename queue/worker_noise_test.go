package queue_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// logRecorder keeps the messages of the records at or above Warn.
type logRecorder struct {
	mu    sync.Mutex
	warns []string
}

func (l *logRecorder) Enabled(_ context.Context, level slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler               { return l }
func (l *logRecorder) WithGroup(string) slog.Handler                    { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.mu.Lock()
		l.warns = append(l.warns, r.Message)
		l.mu.Unlock()
	}
	return nil
}

func (l *logRecorder) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.warns...)
}

func TestWorkerDoesNotWarnAboutAHandlerThatStopsWhenAsked(t *testing.T) {
	e := newWenv(t)
	e.add("polite", nil)
	logs := &logRecorder{}
	started := make(chan struct{})
	w := e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}, &queue.WorkerOptions{ShutdownTimeout: time.Second, LeaseTTL: time.Hour, Logger: slog.New(logs)})
	recv(t, "handler start", started)
	e.stop(w)
	for _, m := range logs.warnings() {
		if !strings.Contains(m, "shutdown timeout passed") {
			t.Errorf("warning %q for a handler that returned when its context was cancelled", m)
		}
	}
}

func TestWorkerDoesNotWarnAboutALeaseItsOwnSettleEnded(t *testing.T) {
	e := newWenv(t)
	id := e.add("quick", nil).ID
	logs := &logRecorder{}
	// The renewal starts while the handler runs and reports the lease
	// lost only once the job has completed: the settle took it.
	release := make(chan struct{})
	renewing := make(chan struct{}, 1)
	var once sync.Once
	e.rec.onRenew = func(req *backend.RenewRequest) {
		once.Do(func() {
			renewing <- struct{}{}
			<-release
			waitFor(t, "job completed", func() bool { return e.job(id).State == queue.StateCompleted })
		})
	}
	e.rec.loseAll.Store(true)
	w := e.start(func(ctx context.Context, j *queue.Job) ([]byte, error) {
		e.clock.Advance(10 * time.Second) // the renewal tick
		recv(t, "renewal under way", renewing)
		return []byte("ok"), nil
	}, &queue.WorkerOptions{RenewEvery: 10 * time.Second, LeaseTTL: 30 * time.Second, Logger: slog.New(logs)})
	e.waitState(id, queue.StateCompleted)
	close(release)
	e.stop(w) // the renewer has handled the reply once the worker stopped
	for _, m := range logs.warnings() {
		t.Errorf("warning %q for a job that completed normally", m)
	}
}
