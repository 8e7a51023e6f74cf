package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// maxForm caps the body of an action: a few short fields.
const maxForm = 64 << 10

// actionFunc does one action on queue and returns what to tell the user,
// and where to go next (a path relative to the dashboard's root; empty:
// back to the page the form was on).
type actionFunc func(ctx context.Context, r *http.Request, queue string) (done, next string, err error)

// action wraps an actionFunc with the checks every action takes (see
// checkAction), and answers with a redirect to a page that shows the
// outcome, so that reloading it does not repeat the action.
func (h *handler) action(fn actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := h.checkAction(r); err != nil {
			h.fail(w, r, err)
			return
		}
		name, err := queueName(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		done, next, err := fn(r.Context(), r, name)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.log.InfoContext(r.Context(), "dashboard action", "queue", name, "done", done)
		if next == "" {
			next = backPath(r.PostFormValue("back"), "queues/"+url.PathEscape(name))
		}
		u, _ := url.Parse(next) // backPath made sure it parses
		q := u.Query()
		q.Set("done", done)
		q.Set("sig", h.sign(done))
		u.RawQuery = q.Encode()
		h.redirect(w, r, u.String())
	}
}

// backPath returns back when it is a path inside the dashboard (relative
// to its root, no scheme, host or climbing out), else fallback: a form
// cannot send the browser elsewhere.
func backPath(back, fallback string) string {
	u, err := url.Parse(back)
	if back == "" || err != nil || u.Scheme != "" || u.Host != "" || u.User != nil ||
		strings.HasPrefix(back, "/") || strings.ContainsAny(back, `\`) || strings.Contains(u.Path, "..") {
		return fallback
	}
	return back
}

// jobAction retries, promotes, cancels or removes one job.
func (h *handler) jobAction(ctx context.Context, r *http.Request, name string) (string, string, error) {
	id := r.PathValue("id")
	s := h.store
	var err error
	next := ""
	switch r.PathValue("action") {
	case "retry":
		_, err = s.Retry(ctx, name, &backend.RetryRequest{ID: id})
	case "promote":
		_, err = s.Promote(ctx, name, &backend.PromoteRequest{ID: id})
	case "cancel":
		var res backend.CancelResult
		res, err = s.Cancel(ctx, name, &backend.CancelRequest{ID: id, Reason: "from the dashboard"})
		if err == nil && res.Active {
			return "asked the worker of job " + id + " to cancel it", "", nil
		}
	case "remove":
		err = s.RemoveJob(ctx, name, id)
		next = "queues/" + url.PathEscape(name)
		if st := backend.JobState(r.PostFormValue("state")); st.Valid() {
			next += "?state=" + url.QueryEscape(string(st))
		}
	default:
		return "", "", fmt.Errorf("%w: no job action %q", backend.ErrNotFound, r.PathValue("action"))
	}
	if err != nil {
		return "", "", err
	}
	return pastTense[r.PathValue("action")] + " job " + id, next, nil
}

// pastTense says what a job action did.
var pastTense = map[string]string{"retry": "retried", "promote": "promoted", "cancel": "cancelled", "remove": "removed"}

// queueAction pauses or resumes a queue, or retries, promotes or cleans
// its jobs of a state in bulk.
func (h *handler) queueAction(ctx context.Context, r *http.Request, name string) (string, string, error) {
	s := h.store
	state := backend.JobState(r.PostFormValue("state"))
	switch r.PathValue("action") {
	case "pause", "resume":
		paused := r.PathValue("action") == "pause"
		if err := s.SetPaused(ctx, name, paused); err != nil {
			return "", "", err
		}
		return r.PathValue("action") + "d " + name, "", nil
	case "retry":
		res, err := s.Retry(ctx, name, &backend.RetryRequest{State: state})
		if err != nil {
			return "", "", err
		}
		return fmt.Sprintf("retried %d %s jobs", len(res.IDs), state), "", nil
	case "promote":
		res, err := s.Promote(ctx, name, &backend.PromoteRequest{})
		if err != nil {
			return "", "", err
		}
		return fmt.Sprintf("promoted %d delayed jobs", len(res.IDs)), "", nil
	case "clean":
		res, err := s.Clean(ctx, name, &backend.CleanRequest{State: state})
		if err != nil {
			return "", "", err
		}
		return "removed " + strconv.Itoa(len(res.IDs)) + " " + string(state) + " jobs", "", nil
	}
	return "", "", fmt.Errorf("%w: no queue action %q", backend.ErrNotFound, r.PathValue("action"))
}

// removeScheduler removes a job scheduler and its pending run.
func (h *handler) removeScheduler(ctx context.Context, r *http.Request, name string) (string, string, error) {
	q, err := queue.New(h.store, name, nil)
	if err != nil {
		return "", "", err
	}
	id := r.PathValue("id")
	if err := q.RemoveJobScheduler(ctx, id); err != nil {
		return "", "", err
	}
	return "removed scheduler " + id, "", nil
}
