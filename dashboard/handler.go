package dashboard

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
)

// Options configure Handler. The zero value serves every page and action
// of every queue the store lists.
type Options struct {
	// Logger receives the errors of the store that a page or the event
	// stream met. Defaults to slog.Default().
	Logger *slog.Logger
	// PageSize is the number of jobs, schedulers or events a page shows.
	// Defaults to 25; at most 500.
	PageSize int
	// Queues names the queues the overview shows. Defaults to every queue
	// of the store, which must then list them (backend.QueueLister, as
	// both of drover's stores do).
	Queues []string
	// ReadOnly turns every action off: no button is rendered, and a POST
	// is refused with 403 Forbidden.
	ReadOnly bool
	// Title is the name in the page header and title. Defaults to
	// "drover".
	Title string
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	out.Logger = cmp.Or(out.Logger, slog.Default())
	if out.PageSize <= 0 {
		out.PageSize = 25
	}
	out.PageSize = min(out.PageSize, 500)
	out.Title = cmp.Or(out.Title, "drover")
	out.Queues = slices.Clone(out.Queues)
	return out
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Handler returns the dashboard of store: HTML pages, their assets, the
// actions and the live event stream, under the paths documented in the
// package documentation. Mount it at the root of a server, or under a
// prefix with http.StripPrefix: every link is relative. The store stays
// the caller's: the handler never closes it.
func Handler(store backend.Full, opts *Options) http.Handler {
	o := opts.withDefaults()
	h := &handler{
		store: store,
		opts:  o,
		log:   o.Logger.With("component", "drover/dashboard"),
		pages: parsePages(),
		token: newToken(),
		cop:   http.NewCrossOriginProtection(),
	}
	assets, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.overview)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(assets))))
	mux.HandleFunc("GET /stream", h.stream)
	mux.HandleFunc("GET /queues/{queue}", h.ofQueue(h.queuePage))
	mux.HandleFunc("GET /queues/{queue}/jobs/{id}", h.ofQueue(h.jobPage))
	mux.HandleFunc("GET /queues/{queue}/schedulers", h.ofQueue(h.schedulersPage))
	mux.HandleFunc("GET /queues/{queue}/events", h.ofQueue(h.eventsPage))
	mux.HandleFunc("GET /queues/{queue}/limits", h.ofQueue(h.limitsPage))
	mux.HandleFunc("POST /queues/{queue}/jobs/{id}/{action}", h.action(h.jobAction))
	mux.HandleFunc("POST /queues/{queue}/schedulers/{id}/remove", h.action(h.removeScheduler))
	mux.HandleFunc("POST /queues/{queue}/groups/{group}/{action}", h.action(h.groupAction))
	mux.HandleFunc("POST /queues/{queue}/{action}", h.action(h.queueAction))
	h.mux = mux
	return h
}

type handler struct {
	store backend.Full
	opts  Options
	log   *slog.Logger
	pages pages
	// token is the anti-CSRF token every form of this handler carries.
	token string
	cop   *http.CrossOriginProtection
	mux   *http.ServeMux
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Nothing but the dashboard's own files runs or loads, and no other
	// site may frame it (clickjacking of the action buttons).
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// cacheAssets lets browsers keep the assets for an hour: they change only
// with the binary.
func cacheAssets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// queues returns the names of the queues the overview shows.
func (h *handler) queues(ctx context.Context) ([]string, error) {
	if len(h.opts.Queues) > 0 {
		return h.opts.Queues, nil
	}
	l, ok := h.store.(backend.QueueLister)
	if !ok {
		return nil, fmt.Errorf("%w: the store cannot list its queues; name them in Options.Queues", backend.ErrUnsupported)
	}
	return l.Queues(ctx)
}

// queueName returns the {queue} of the path, checked.
func queueName(r *http.Request) (string, error) {
	name := r.PathValue("queue")
	if err := backend.ValidateQueueName(name); err != nil {
		return "", err
	}
	return name, nil
}

// ofQueue adapts a page of one queue: it gets the queue named by the
// path, checked.
func (h *handler) ofQueue(page func(w http.ResponseWriter, r *http.Request, name string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, err := queueName(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		page(w, r, name)
	}
}

// statusOf maps a store error to the HTTP status of its page.
func statusOf(err error) int {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, backend.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, backend.ErrWrongState), errors.Is(err, backend.ErrJobActive),
		errors.Is(err, backend.ErrSchedulerIteration), errors.Is(err, backend.ErrEventsAhead),
		errors.Is(err, backend.ErrEventsTrimmed):
		return http.StatusConflict
	case errors.Is(err, backend.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, backend.ErrLocked), errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// fail renders the error page for err; errors of the store itself (not
// of the request) are logged.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "dashboard request failed", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "error", &errorView{Status: status, StatusText: http.StatusText(status), Message: err.Error()})
}

type errorView struct {
	Status     int
	StatusText string
	Message    string
}

// since formats how long ago t was, for people.
func since(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// root returns the relative path from the page at path to the root of
// the dashboard, for the page's <base>: "./" at the root, "../" one
// level down, and so on. It keeps every link working under any prefix
// the handler is mounted at.
func root(path string) string {
	n := strings.Count(strings.TrimPrefix(path, "/"), "/")
	if n == 0 {
		return "./"
	}
	return strings.Repeat("../", n)
}
