package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
)

// HandlerOptions configure Handler. The zero value is the safe default.
type HandlerOptions struct {
	// AllowRemote answers calls from any address, not only from a Unix
	// socket or loopback. Set it only behind something that
	// authenticates the caller: the endpoint itself does not.
	AllowRemote bool
	// MaxWait caps how long one Events call waits for new events
	// (EventsRequest.Wait); 0 means 30 seconds. A server that serves the
	// handler must not time a response out sooner (http.Server's
	// WriteTimeout).
	MaxWait time.Duration
	// MaxBody caps the size of a request; 0 means 8 MiB.
	MaxBody int64
}

// Handler returns the endpoint of store's administration; see the package
// documentation for what it serves and how to keep it safe. It serves the
// paths /v1/<method>; mount it at the root of a server or a socket, or
// under a prefix with http.StripPrefix (the client's base URL then ends
// with the prefix). The store stays the caller's: the handler never
// closes it.
func Handler(store backend.Full, opts *HandlerOptions) http.Handler {
	h := &handler{store: store}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.MaxWait <= 0 {
		h.opts.MaxWait = 30 * time.Second
	}
	if h.opts.MaxBody <= 0 {
		h.opts.MaxBody = 8 << 20
	}
	return h
}

type handler struct {
	store backend.Full
	opts  HandlerOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.opts.AllowRemote && !local(r.RemoteAddr) {
		writeError(w, fmt.Errorf("%w: the admin endpoint answers only a Unix socket or loopback, not %s", backend.ErrDenied, r.RemoteAddr))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, backend.Invalid("method", "the admin endpoint takes POST requests only"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, backend.Invalid("Content-Type", "the admin endpoint takes application/json only"))
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	o := ops[name]
	if !ok || o == nil {
		writeError(w, fmt.Errorf("%w: the admin endpoint has no method %q", backend.ErrUnsupported, r.URL.Path))
		return
	}
	var c call
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.opts.MaxBody)).Decode(&c); err != nil {
		writeError(w, backend.Invalid("body", "cannot decode the request: "+err.Error()))
		return
	}
	res, err := o(r.Context(), h, &c)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := json.Marshal(res)
	if err != nil {
		writeError(w, err)
		return
	}
	writeReply(w, http.StatusOK, reply{Result: out})
}

// local reports whether a request's remote address is a Unix socket's
// (which has no host and port) or a loopback address.
func local(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeError(w http.ResponseWriter, err error) {
	we, status := encodeError(err)
	writeReply(w, status, reply{Error: we})
}

func writeReply(w http.ResponseWriter, status int, rep reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rep)
}

// op runs one store method with the arguments of a call.
type op func(ctx context.Context, h *handler, c *call) (any, error)

// request decodes a call's request struct; a missing one is nil, which
// the store judges.
func request[R any](c *call) (*R, error) {
	var r *R
	if len(c.Req) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(c.Req, &r); err != nil {
		return nil, backend.Invalid("req", "cannot decode the request: "+err.Error())
	}
	return r, nil
}

// withRequest adapts a store method of the form (ctx, queue, *R) (T, error).
func withRequest[R, T any](m func(backend.Full, context.Context, string, *R) (T, error)) op {
	return func(ctx context.Context, h *handler, c *call) (any, error) {
		r, err := request[R](c)
		if err != nil {
			return nil, err
		}
		return m(h.store, ctx, c.Queue, r)
	}
}

// withID adapts a store method of the form (ctx, queue, id) (T, error).
func withID[T any](m func(backend.Full, context.Context, string, string) (T, error)) op {
	return func(ctx context.Context, h *handler, c *call) (any, error) {
		return m(h.store, ctx, c.Queue, c.ID)
	}
}

// withQueue adapts a store method of the form (ctx, queue) (T, error).
func withQueue[T any](m func(backend.Full, context.Context, string) (T, error)) op {
	return func(ctx context.Context, h *handler, c *call) (any, error) {
		return m(h.store, ctx, c.Queue)
	}
}

// noResult adapts a store method that returns only an error.
func noResult[A any](m func(backend.Full, context.Context, string, A) error) func(backend.Full, context.Context, string, A) (struct{}, error) {
	return func(s backend.Full, ctx context.Context, queue string, a A) (struct{}, error) {
		return struct{}{}, m(s, ctx, queue, a)
	}
}

// The names of the methods, shared by the handler and the client.
const (
	mJob             = "job"
	mJobs            = "jobs"
	mCounts          = "counts"
	mSetPaused       = "set_paused"
	mDrain           = "drain"
	mClean           = "clean"
	mObliterate      = "obliterate"
	mRemoveJob       = "remove_job"
	mLogs            = "logs"
	mScheduler       = "scheduler"
	mSchedulers      = "schedulers"
	mRemoveScheduler = "remove_scheduler"
	mEvents          = "events"
	mLastEventID     = "last_event_id"
	mRetry           = "retry"
	mPromote         = "promote"
	mChange          = "change"
	mCancel          = "cancel"
	mPublish         = "publish"
	mQueues          = "queues"
	mDedupHolder     = "dedup_holder"
	mReleaseDedup    = "release_dedup"
	mSetLimits       = "set_limits"
	mLimits          = "limits"
	mHold            = "hold"
	mSetGroupLimits  = "set_group_limits"
	mPauseGroup      = "pause_group"
	mGroups          = "groups"
	mGroupJobs       = "group_jobs"
)

var ops = map[string]op{
	mJob:    withID(backend.Full.Job),
	mJobs:   withRequest(backend.Full.Jobs),
	mCounts: withQueue(backend.Full.Counts),
	mSetPaused: func(ctx context.Context, h *handler, c *call) (any, error) {
		return struct{}{}, h.store.SetPaused(ctx, c.Queue, c.Paused)
	},
	mDrain:      withRequest(backend.Full.Drain),
	mClean:      withRequest(backend.Full.Clean),
	mObliterate: withRequest(noResult(backend.Full.Obliterate)),
	mRemoveJob:  withID(noResult(backend.Full.RemoveJob)),
	mLogs: func(ctx context.Context, h *handler, c *call) (any, error) {
		r, err := request[backend.LogsRequest](c)
		if err != nil {
			return nil, err
		}
		return h.store.Logs(ctx, c.Queue, c.ID, r)
	},
	mScheduler:       withID(backend.Full.Scheduler),
	mSchedulers:      withRequest(backend.Full.Schedulers),
	mRemoveScheduler: withID(noResult(backend.Full.RemoveScheduler)),
	mEvents: func(ctx context.Context, h *handler, c *call) (any, error) {
		r, err := request[backend.EventsRequest](c)
		if err != nil {
			return nil, err
		}
		if r != nil {
			r.Wait = min(r.Wait, h.opts.MaxWait)
		}
		return h.store.Events(ctx, c.Queue, r)
	},
	mLastEventID: withQueue(backend.Full.LastEventID),
	mRetry:       withRequest(backend.Full.Retry),
	mPromote:     withRequest(backend.Full.Promote),
	mChange:      withRequest(noResult(backend.Full.Change)),
	mCancel:      withRequest(backend.Full.Cancel),
	mPublish:     withRequest(backend.Full.Publish),
	// The key travels as the ID.
	mDedupHolder:  withID(backend.Full.DedupHolder),
	mReleaseDedup: withID(backend.Full.ReleaseDedup),
	mSetLimits: func(ctx context.Context, h *handler, c *call) (any, error) {
		l, err := request[backend.Limits](c)
		if err != nil {
			return nil, err
		}
		return struct{}{}, h.store.SetLimits(ctx, c.Queue, valueOf(l))
	},
	mLimits: withQueue(backend.Full.Limits),
	mHold: func(ctx context.Context, h *handler, c *call) (any, error) {
		d, err := request[time.Duration](c)
		if err != nil {
			return nil, err
		}
		return struct{}{}, h.store.Hold(ctx, c.Queue, valueOf(d))
	},
	mSetGroupLimits: withGroups(func(ctx context.Context, g backend.GroupStore, c *call, l *backend.Limits) (any, error) {
		return struct{}{}, g.SetGroupLimits(ctx, c.Queue, valueOf(l))
	}),
	// The group travels as the ID.
	mPauseGroup: withGroups(func(ctx context.Context, g backend.GroupStore, c *call, _ *struct{}) (any, error) {
		return struct{}{}, g.PauseGroup(ctx, c.Queue, c.ID, c.Paused)
	}),
	mGroups: withGroups(func(ctx context.Context, g backend.GroupStore, c *call, r *backend.GroupsRequest) (backend.GroupsResult, error) {
		return g.Groups(ctx, c.Queue, r)
	}),
	// The group travels as the ID.
	mGroupJobs: withGroups(func(ctx context.Context, g backend.GroupStore, c *call, r *backend.JobsRequest) (backend.JobsResult, error) {
		return g.GroupJobs(ctx, c.Queue, c.ID, r)
	}),
	mQueues: func(ctx context.Context, h *handler, _ *call) (any, error) {
		l, ok := h.store.(backend.QueueLister)
		if !ok {
			return nil, fmt.Errorf("%w: the store cannot list its queues", backend.ErrUnsupported)
		}
		return l.Queues(ctx)
	},
}

// valueOf returns *p, or the zero value for nil.
func valueOf[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// withGroups adapts a GroupStore method: a store that does not serve
// groups gets ErrUnsupported.
func withGroups[R, T any](m func(context.Context, backend.GroupStore, *call, *R) (T, error)) op {
	return func(ctx context.Context, h *handler, c *call) (any, error) {
		g, ok := h.store.(backend.GroupStore)
		if !ok {
			return nil, fmt.Errorf("%w: the store does not serve groups", backend.ErrUnsupported)
		}
		r, err := request[R](c)
		if err != nil {
			return nil, err
		}
		return m(ctx, g, c, r)
	}
}
