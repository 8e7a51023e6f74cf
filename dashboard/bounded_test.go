package dashboard_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/dashboard"
)

// pageReads is a store that notes how much each listing call asks for.
type pageReads struct {
	backend.Full
	mu    sync.Mutex
	reads []string
	most  int
}

func (p *pageReads) note(what string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads = append(p.reads, what)
	if n <= 0 {
		n = 1 << 30 // "all": unbounded
	}
	p.most = max(p.most, n)
}

func (p *pageReads) take() ([]string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, m := p.reads, p.most
	p.reads, p.most = nil, 0
	return r, m
}

func (p *pageReads) Jobs(ctx context.Context, queue string, req *backend.JobsRequest) (backend.JobsResult, error) {
	p.note("jobs", req.Limit)
	return p.Full.Jobs(ctx, queue, req)
}

func (p *pageReads) Logs(ctx context.Context, queue, id string, req *backend.LogsRequest) (backend.LogsResult, error) {
	p.note("logs", req.Limit)
	return p.Full.Logs(ctx, queue, id, req)
}

func (p *pageReads) Events(ctx context.Context, queue string, req *backend.EventsRequest) (backend.EventsResult, error) {
	p.note("events", req.Max)
	return p.Full.Events(ctx, queue, req)
}

func (p *pageReads) Schedulers(ctx context.Context, queue string, req *backend.SchedulersRequest) (backend.SchedulersResult, error) {
	p.note("schedulers", req.Limit)
	return p.Full.Schedulers(ctx, queue, req)
}

func (p *pageReads) Groups(ctx context.Context, queue string, req *backend.GroupsRequest) (backend.GroupsResult, error) {
	p.note("groups", req.Limit)
	return p.Full.(backend.GroupStore).Groups(ctx, queue, req)
}

func (p *pageReads) GroupJobs(ctx context.Context, queue, group string, req *backend.JobsRequest) (backend.JobsResult, error) {
	p.note("jobs", req.Limit)
	return p.Full.(backend.GroupStore).GroupJobs(ctx, queue, group, req)
}

func (p *pageReads) SetGroupLimits(ctx context.Context, queue string, l backend.Limits) error {
	return p.Full.(backend.GroupStore).SetGroupLimits(ctx, queue, l)
}

func (p *pageReads) PauseGroup(ctx context.Context, queue, group string, paused bool) error {
	return p.Full.(backend.GroupStore).PauseGroup(ctx, queue, group, paused)
}

func (p *pageReads) Queues(ctx context.Context) ([]string, error) {
	return p.Full.(backend.QueueLister).Queues(ctx)
}

// TestEveryPageReadsOnePage checks that no page asks the store for more
// than a page of anything, whatever the size of the queue: at most one
// listing of jobs, and no read without a limit.
func TestEveryPageReadsOnePage(t *testing.T) {
	store, f := stock(t)
	reads := &pageReads{Full: store}
	srv := httptest.NewServer(dashboard.Handler(reads, &dashboard.Options{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	s := &site{t: t, srv: srv, client: noRedirects(srv.Client())}
	for _, path := range []string{
		"/", "/queues/mail", "/queues/mail?state=completed&offset=1", "/queues/mail?state=failed&q=charge",
		"/queues/mail/jobs/" + f.failed, "/queues/mail/jobs/" + f.parent, "/queues/mail/schedulers", "/queues/mail/events",
		"/queues/mail/limits", "/queues/mail/limits?group=acme",
	} {
		s.page(path)
		got, most := reads.take()
		jobs := 0
		for _, r := range got {
			if r == "jobs" {
				jobs++
			}
		}
		if strings.Contains(path, "/limits") && !slices.Contains(got, "groups") {
			t.Errorf("GET %s read %v: no groups", path, got)
		}
		if jobs > 1 || most > 1000 {
			t.Errorf("GET %s read %v, asking for up to %d records; want one page", path, got, most)
		}
	}
}
