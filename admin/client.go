package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/droverhq/drover/backend"
)

// Client is a store whose calls go to an endpoint that Handler serves.
// It implements backend.Full and backend.QueueLister, so that a tool can
// pass it wherever it would pass a store; the calls the endpoint does not
// serve (see the package documentation) fail with backend.ErrUnsupported.
// Errors keep their class: errors.Is(err, backend.ErrNotFound) holds for a
// job the store did not find, and backend.ErrUnavailable wraps an
// endpoint that cannot be reached.
type Client struct {
	base   string
	http   *http.Client
	closed atomic.Bool
}

var (
	_ backend.Full        = (*Client)(nil)
	_ backend.QueueLister = (*Client)(nil)
)

// NewClient returns a client of the endpoint at baseURL (such as
// "http://127.0.0.1:7070" or "http://127.0.0.1:7070/drover" when the
// handler is mounted under a prefix). hc nil means a client of its own;
// a given one must not time calls out sooner than the endpoint's
// HandlerOptions.MaxWait, for event reads wait that long.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), http: hc}
}

// Dial returns a client of the endpoint at url: "unix:///path/to/sock"
// (or "unix:relative/sock") for a Unix socket, or an http:// or https://
// base URL (see NewClient). It does not connect: the first call does.
func Dial(url string) (*Client, error) {
	if path, ok := unixPath(url); ok {
		if path == "" {
			return nil, backend.Invalid("url", fmt.Sprintf("%q names no socket", url))
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		// The host is not used: every connection goes to the socket.
		return NewClient("http://unix", &http.Client{Transport: tr}), nil
	}
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		return NewClient(url, nil), nil
	}
	return nil, backend.Invalid("url", fmt.Sprintf("%q is neither unix:///path nor an http:// URL", url))
}

// unixPath returns the socket path of a unix: URL.
func unixPath(url string) (string, bool) {
	if p, ok := strings.CutPrefix(url, "unix://"); ok {
		return p, true
	}
	return strings.CutPrefix(url, "unix:")
}

// Close closes the client's idle connections; later calls fail with
// backend.ErrClosed. It does not close the store behind the endpoint.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.http.CloseIdleConnections()
	return nil
}

// do sends one call and decodes its result into out.
func (c *Client) do(ctx context.Context, method string, in call, out any) error {
	if c.closed.Load() {
		return backend.ErrClosed
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/"+method, bytes.NewReader(body))
	if err != nil {
		return backend.Invalid("url", err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: admin endpoint: %w", backend.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	var rep reply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		if ctx.Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: admin endpoint: %w", backend.ErrUnavailable, err)
		}
		return fmt.Errorf("drover: %s is not a drover admin endpoint (HTTP %s)", c.base, resp.Status)
	}
	if rep.Error != nil {
		return rep.Error.decode()
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rep.Result, out); err != nil {
		return fmt.Errorf("drover: admin endpoint: cannot decode the reply of %s: %w", method, err)
	}
	return nil
}

// send is do for a call with a result of type T.
func send[T any](ctx context.Context, c *Client, method string, in call) (T, error) {
	var out T
	err := c.do(ctx, method, in, &out)
	return out, err
}

// withReq returns the call of a method of the form (ctx, queue, *R).
func withReq(queue string, req any) call {
	c := call{Queue: queue}
	if b, err := json.Marshal(req); err == nil && string(b) != "null" {
		c.Req = b
	}
	return c
}

// unsupported is the error of a call that the endpoint does not serve.
func unsupported(method string) error {
	return fmt.Errorf("%w: the admin endpoint does not serve %s: use the store in its process", backend.ErrUnsupported, method)
}

// Add is not served: see the package documentation.
func (c *Client) Add(context.Context, string, *backend.AddRequest) (backend.AddResult, error) {
	return backend.AddResult{}, unsupported("Add")
}

// Lease is not served: see the package documentation.
func (c *Client) Lease(context.Context, string, *backend.LeaseRequest) (backend.LeaseResult, error) {
	return backend.LeaseResult{}, unsupported("Lease")
}

// Renew is not served: see the package documentation.
func (c *Client) Renew(context.Context, string, *backend.RenewRequest) (backend.RenewResult, error) {
	return backend.RenewResult{}, unsupported("Renew")
}

// Settle is not served: see the package documentation.
func (c *Client) Settle(context.Context, string, *backend.SettleRequest) (backend.SettleResult, error) {
	return backend.SettleResult{}, unsupported("Settle")
}

// CompareAndUpsert is not served: see the package documentation.
func (c *Client) CompareAndUpsert(context.Context, string, *backend.CompareAndUpsertRequest) (backend.CompareAndUpsertResult, error) {
	return backend.CompareAndUpsertResult{}, unsupported("CompareAndUpsert")
}

// UpdateProgress is not served: see the package documentation.
func (c *Client) UpdateProgress(context.Context, string, string, []byte) error {
	return unsupported("UpdateProgress")
}

// AddLog is not served: see the package documentation.
func (c *Client) AddLog(context.Context, string, string, string) (int, error) {
	return 0, unsupported("AddLog")
}

// Job returns one job, or an error matching backend.ErrNotFound.
func (c *Client) Job(ctx context.Context, queue, id string) (*backend.Job, error) {
	return send[*backend.Job](ctx, c, mJob, call{Queue: queue, ID: id})
}

// Jobs returns one page of the jobs in a state.
func (c *Client) Jobs(ctx context.Context, queue string, req *backend.JobsRequest) (backend.JobsResult, error) {
	return send[backend.JobsResult](ctx, c, mJobs, withReq(queue, req))
}

// Counts returns the number of jobs in each state.
func (c *Client) Counts(ctx context.Context, queue string) (backend.Counts, error) {
	return send[backend.Counts](ctx, c, mCounts, call{Queue: queue})
}

// SetPaused pauses or resumes a queue.
func (c *Client) SetPaused(ctx context.Context, queue string, paused bool) error {
	return c.do(ctx, mSetPaused, call{Queue: queue, Paused: paused}, nil)
}

// Drain removes the waiting jobs, and the delayed ones when asked.
func (c *Client) Drain(ctx context.Context, queue string, req *backend.DrainRequest) (backend.DrainResult, error) {
	return send[backend.DrainResult](ctx, c, mDrain, withReq(queue, req))
}

// Clean removes old jobs of one state.
func (c *Client) Clean(ctx context.Context, queue string, req *backend.CleanRequest) (backend.CleanResult, error) {
	return send[backend.CleanResult](ctx, c, mClean, withReq(queue, req))
}

// Obliterate removes a queue and everything in it.
func (c *Client) Obliterate(ctx context.Context, queue string, req *backend.ObliterateRequest) error {
	return c.do(ctx, mObliterate, withReq(queue, req), nil)
}

// RemoveJob removes one job.
func (c *Client) RemoveJob(ctx context.Context, queue, id string) error {
	return c.do(ctx, mRemoveJob, call{Queue: queue, ID: id}, nil)
}

// Logs returns a page of a job's log lines.
func (c *Client) Logs(ctx context.Context, queue, id string, req *backend.LogsRequest) (backend.LogsResult, error) {
	in := withReq(queue, req)
	in.ID = id
	return send[backend.LogsResult](ctx, c, mLogs, in)
}

// Scheduler returns one job scheduler, or an error matching
// backend.ErrNotFound.
func (c *Client) Scheduler(ctx context.Context, queue, id string) (*backend.Scheduler, error) {
	return send[*backend.Scheduler](ctx, c, mScheduler, call{Queue: queue, ID: id})
}

// Schedulers returns one page of a queue's job schedulers.
func (c *Client) Schedulers(ctx context.Context, queue string, req *backend.SchedulersRequest) (backend.SchedulersResult, error) {
	return send[backend.SchedulersResult](ctx, c, mSchedulers, withReq(queue, req))
}

// RemoveScheduler removes a job scheduler and its pending iteration.
func (c *Client) RemoveScheduler(ctx context.Context, queue, id string) error {
	return c.do(ctx, mRemoveScheduler, call{Queue: queue, ID: id}, nil)
}

// Events reads a queue's event log. The endpoint caps req.Wait at its
// HandlerOptions.MaxWait.
func (c *Client) Events(ctx context.Context, queue string, req *backend.EventsRequest) (backend.EventsResult, error) {
	return send[backend.EventsResult](ctx, c, mEvents, withReq(queue, req))
}

// LastEventID returns the ID of a queue's newest event.
func (c *Client) LastEventID(ctx context.Context, queue string) (uint64, error) {
	return send[uint64](ctx, c, mLastEventID, call{Queue: queue})
}

// Retry moves failed or completed jobs back to waiting.
func (c *Client) Retry(ctx context.Context, queue string, req *backend.RetryRequest) (backend.RetryResult, error) {
	return send[backend.RetryResult](ctx, c, mRetry, withReq(queue, req))
}

// Promote makes delayed jobs waiting now.
func (c *Client) Promote(ctx context.Context, queue string, req *backend.PromoteRequest) (backend.PromoteResult, error) {
	return send[backend.PromoteResult](ctx, c, mPromote, withReq(queue, req))
}

// Change changes a waiting or delayed job.
func (c *Client) Change(ctx context.Context, queue string, req *backend.ChangeRequest) error {
	return c.do(ctx, mChange, withReq(queue, req), nil)
}

// Cancel cancels one job.
func (c *Client) Cancel(ctx context.Context, queue string, req *backend.CancelRequest) (backend.CancelResult, error) {
	return send[backend.CancelResult](ctx, c, mCancel, withReq(queue, req))
}

// Publish appends an application event to a queue's log.
func (c *Client) Publish(ctx context.Context, queue string, req *backend.PublishRequest) (uint64, error) {
	return send[uint64](ctx, c, mPublish, withReq(queue, req))
}

// Queues returns the names of the store's queues.
func (c *Client) Queues(ctx context.Context) ([]string, error) {
	return send[[]string](ctx, c, mQueues, call{})
}

// DedupHolder reports who holds a deduplication key.
func (c *Client) DedupHolder(ctx context.Context, queue, key string) (backend.DedupHolder, error) {
	return send[backend.DedupHolder](ctx, c, mDedupHolder, call{Queue: queue, ID: key})
}

// ReleaseDedup lets go of a deduplication key.
func (c *Client) ReleaseDedup(ctx context.Context, queue, key string) (bool, error) {
	return send[bool](ctx, c, mReleaseDedup, call{Queue: queue, ID: key})
}

// SetLimits replaces a queue's limits.
func (c *Client) SetLimits(ctx context.Context, queue string, l backend.Limits) error {
	_, err := send[struct{}](ctx, c, mSetLimits, withReq(queue, l))
	return err
}

// Limits reports a queue's limits.
func (c *Client) Limits(ctx context.Context, queue string) (backend.QueueLimits, error) {
	return send[backend.QueueLimits](ctx, c, mLimits, call{Queue: queue})
}

// Hold keeps a queue's jobs from starting for d.
func (c *Client) Hold(ctx context.Context, queue string, d time.Duration) error {
	_, err := send[struct{}](ctx, c, mHold, withReq(queue, d))
	return err
}

// SetGroupLimits sets the limits of each group of a queue.
func (c *Client) SetGroupLimits(ctx context.Context, queue string, l backend.Limits) error {
	_, err := send[struct{}](ctx, c, mSetGroupLimits, withReq(queue, l))
	return err
}

// PauseGroup stops or resumes leases of a group's jobs.
func (c *Client) PauseGroup(ctx context.Context, queue, group string, paused bool) error {
	_, err := send[struct{}](ctx, c, mPauseGroup, call{Queue: queue, ID: group, Paused: paused})
	return err
}

// Groups lists a queue's groups.
func (c *Client) Groups(ctx context.Context, queue string, req *backend.GroupsRequest) (backend.GroupsResult, error) {
	return send[backend.GroupsResult](ctx, c, mGroups, withReq(queue, req))
}

// GroupJobs lists a page of a group's waiting or active jobs.
func (c *Client) GroupJobs(ctx context.Context, queue, group string, req *backend.JobsRequest) (backend.JobsResult, error) {
	cl := withReq(queue, req)
	cl.ID = group
	return send[backend.JobsResult](ctx, c, mGroupJobs, cl)
}
