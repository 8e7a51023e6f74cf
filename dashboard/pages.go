package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/queue"
)

// searchWindow is how many jobs of a state one search by name reads: a
// search reads one page of the store, however many jobs the queue has,
// and the page links to the next window.
const searchWindow = 1000

// maxChildren is how many children of a flow the job page shows.
const maxChildren = 50

// queueRow is a queue on the overview.
type queueRow struct {
	Name   string
	Counts backend.Counts
	Cells  []stateTab
	Rate   string
	// rate holds the finish times behind Rate, for the stream to go on
	// from.
	rate *rate
}

type overviewView struct {
	Queues []queueRow
	States []backend.JobState
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	names, err := h.queues(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := overviewView{States: backend.States, Queues: make([]queueRow, 0, len(names))}
	for _, name := range names {
		row, err := h.queueRow(ctx, name)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Queues = append(v.Queues, row)
	}
	h.render(w, r, http.StatusOK, "overview", &v)
}

// queueRow reads a queue's counts and its recent throughput.
func (h *handler) queueRow(ctx context.Context, name string) (queueRow, error) {
	c, err := h.store.Counts(ctx, name)
	if err != nil {
		return queueRow{}, err
	}
	rt, err := h.recentFinishes(ctx, name)
	if err != nil {
		return queueRow{}, err
	}
	return queueRow{Name: name, Counts: c, Cells: cells(c), Rate: rt.perMinute(now()), rate: rt}, nil
}

// cells returns the count of each state, in life order.
func cells(c backend.Counts) []stateTab {
	out := make([]stateTab, len(backend.States))
	for i, s := range backend.States {
		out[i] = stateTab{State: s, Count: c.Of(s)}
	}
	return out
}

// stateTab is a state of a queue, with its count.
type stateTab struct {
	State backend.JobState
	Count int
}

// jobRow is a job in a listing.
type jobRow struct {
	ID, Name string
	Attempts string
	Created  string
	Detail   string
}

type queueView struct {
	Name   string
	Counts backend.Counts
	State  backend.JobState
	States []stateTab
	Jobs   []jobRow
	// Offset and Limit are the page shown; Prev and Next the offsets of
	// the pages around it, -1 when there is none.
	Offset, Limit, Prev, Next int
	// Search is the text searched for, and Searched says which jobs the
	// search read.
	Search   string
	Searched string
	// Stream is the URL of the queue's live counts.
	Stream string
	// Bulk actions that apply to the state shown.
	CanRetryAll, CanPromoteAll, CanClean bool
}

func (queueView) tab() string { return "jobs" }

func (h *handler) queuePage(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	q := r.URL.Query()
	state := backend.JobState(q.Get("state"))
	if state == "" {
		state = backend.StateWaiting
	}
	if !state.Valid() {
		h.fail(w, r, backend.Invalid("state", "unknown job state "+strconv.Quote(string(state))))
		return
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	offset = max(offset, 0)
	search := strings.TrimSpace(q.Get("q"))
	if search != "" && q.Get("offset") == "" {
		// An ID first: it opens the job.
		if _, err := h.store.Job(ctx, name, search); err == nil {
			h.redirect(w, r, "queues/"+url.PathEscape(name)+"/jobs/"+url.PathEscape(search))
			return
		} else if !errors.Is(err, backend.ErrNotFound) && !errors.Is(err, backend.ErrInvalid) {
			h.fail(w, r, err)
			return
		}
	}
	counts, err := h.store.Counts(ctx, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := queueView{Name: name, Counts: counts, State: state, Offset: offset, Limit: h.opts.PageSize, Search: search, Prev: -1, Next: -1}
	v.States = cells(counts)
	limit := h.opts.PageSize
	if search != "" {
		limit = searchWindow
	}
	res, err := h.store.Jobs(ctx, name, &backend.JobsRequest{State: state, Offset: offset, Limit: limit})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	needle := strings.ToLower(search)
	for _, j := range res.Jobs {
		if search != "" && !strings.Contains(strings.ToLower(j.Name), needle) && !strings.Contains(strings.ToLower(j.ID), needle) {
			continue
		}
		v.Jobs = append(v.Jobs, jobRowOf(j))
	}
	if search != "" {
		v.Limit = searchWindow
		v.Searched = "searched " + string(state) + " jobs " + strconv.Itoa(offset+1) + "–" + strconv.Itoa(offset+len(res.Jobs)) + " of " + strconv.Itoa(counts.Of(state))
	}
	if offset > 0 {
		v.Prev = max(offset-v.Limit, 0)
	}
	if offset+len(res.Jobs) < counts.Of(state) && len(res.Jobs) == limit {
		v.Next = offset + limit
	}
	v.Stream = streamURL(url.Values{"queue": {name}})
	v.CanRetryAll = state.Final()
	v.CanPromoteAll = state == backend.StateDelayed
	v.CanClean = state.Final() || state == backend.StateWaiting || state == backend.StateDelayed
	h.render(w, r, http.StatusOK, "queue", &v)
}

// jobRowOf is job j as a listing shows it.
func jobRowOf(j *backend.Job) jobRow {
	return jobRow{
		ID: j.ID, Name: j.Name, Attempts: strconv.Itoa(j.AttemptsMade) + "/" + strconv.Itoa(j.Attempts),
		Created: since(now(), j.CreatedAt), Detail: detail(j),
	}
}

// detail is what a listing says of a job beyond its name: why it failed,
// when it runs, how far it got.
func detail(j *backend.Job) string {
	switch {
	case j.State == backend.StateFailed:
		return j.FailedReason
	case j.State == backend.StateDelayed:
		return "runs " + since(now(), j.RunAt)
	case j.State == backend.StateWaitingChildren:
		return strconv.Itoa(j.PendingChildren()) + " of " + strconv.Itoa(len(j.Children)) + " children pending"
	case j.State == backend.StateCompleted:
		return "finished " + since(now(), j.FinishedAt)
	case len(j.Progress) > 0:
		return "progress " + payloadText(j.Progress)
	}
	return ""
}

// flowRef is a job of a flow, with its state now.
type flowRef struct {
	Queue, ID, State string
	// Outcome is how a child ended, as its parent saw it.
	Outcome string
}

type jobView struct {
	Job                    *backend.Job
	Data, Result, Progress string
	Logs                   []string
	LogTotal, LogOffset    int
	LogPrev, LogNext       int
	Parent                 *flowRef
	Children               []flowRef
	MoreChildren           int
	// Stream is the URL of the queue's events from the page's read on:
	// an event of this job reloads the page.
	Stream                   string
	CanRetry, CanPromote     bool
	CanCancel, CanRemove     bool
	Created, Processed, Done string
}

func (jobView) tab() string { return "jobs" }

func (h *handler) jobPage(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	// The cursor first: a change after it reloads the page.
	after, err := h.store.LastEventID(ctx, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	j, err := h.store.Job(ctx, name, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	logOffset, _ := strconv.Atoi(r.URL.Query().Get("logs"))
	logOffset = max(logOffset, 0)
	logs, err := h.store.Logs(ctx, name, j.ID, &backend.LogsRequest{Offset: logOffset, Limit: h.opts.PageSize * 4})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := jobView{
		Job: j, Data: payloadText(j.Data), Result: payloadText(j.Result), Progress: payloadText(j.Progress),
		Logs: logs.Lines, LogTotal: logs.Total, LogOffset: logOffset, LogPrev: -1, LogNext: -1,
		Stream:   streamURL(url.Values{"queue": {name}, "events": {"1"}, "job": {j.ID}, "after": {strconv.FormatUint(after, 10)}}),
		CanRetry: j.State.Final(), CanPromote: j.State == backend.StateDelayed,
		CanCancel: !j.State.Final() && !j.CancelRequested, CanRemove: j.State != backend.StateActive,
	}
	if logOffset > 0 {
		v.LogPrev = max(logOffset-h.opts.PageSize*4, 0)
	}
	if logOffset+len(logs.Lines) < logs.Total {
		v.LogNext = logOffset + len(logs.Lines)
	}
	if p := j.Parent; p != nil {
		ref, err := h.flowRef(ctx, *p)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Parent = &ref
	}
	for i, c := range j.Children {
		if i == maxChildren {
			v.MoreChildren = len(j.Children) - i
			break
		}
		ref, err := h.flowRef(ctx, c)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if oc, ok := j.ChildOutcomes[c.String()]; ok {
			ref.Outcome = string(oc.State)
			switch {
			case oc.Reason != "":
				ref.Outcome += ": " + oc.Reason
			case len(oc.Result) > 0:
				ref.Outcome += ": " + payloadText(oc.Result)
			}
			if oc.Ignored {
				ref.Outcome += " (ignored)"
			}
		}
		v.Children = append(v.Children, ref)
	}
	h.render(w, r, http.StatusOK, "job", &v)
}

// flowRef looks up the state of a job of a flow: "removed" when it is
// gone.
func (h *handler) flowRef(ctx context.Context, r backend.JobRef) (flowRef, error) {
	out := flowRef{Queue: r.Queue, ID: r.ID, State: "removed"}
	j, err := h.store.Job(ctx, r.Queue, r.ID)
	switch {
	case err == nil:
		out.State = string(j.State)
	case !errors.Is(err, backend.ErrNotFound):
		return out, err
	}
	return out, nil
}

// schedulerRow is a job scheduler in the listing.
type schedulerRow struct {
	ID, Repeat, Job string
	Next, NextIn    string
	Upcoming        []string
	Iterations      int
}

type schedulersView struct {
	Name       string
	Schedulers []schedulerRow
	Offset     int
	Prev, Next int
}

func (schedulersView) tab() string { return "schedulers" }

func (h *handler) schedulersPage(w http.ResponseWriter, r *http.Request, name string) {
	q, err := queue.New(h.store, name, nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	ss, err := q.JobSchedulers(r.Context(), queue.Page{Offset: offset, Limit: h.opts.PageSize + 1})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := schedulersView{Name: name, Offset: offset, Prev: -1, Next: -1}
	if len(ss) > h.opts.PageSize {
		ss = ss[:h.opts.PageSize]
		v.Next = offset + h.opts.PageSize
	}
	if offset > 0 {
		v.Prev = max(offset-h.opts.PageSize, 0)
	}
	for _, s := range ss {
		row := schedulerRow{ID: s.ID, Repeat: repeatText(s.Repeat), Job: s.Template.Name,
			Next: stamp(s.Next), NextIn: since(now(), s.Next), Iterations: s.Iterations}
		for _, t := range s.Upcoming[:min(len(s.Upcoming), 3)] {
			row.Upcoming = append(row.Upcoming, stamp(t))
		}
		v.Schedulers = append(v.Schedulers, row)
	}
	h.render(w, r, http.StatusOK, "schedulers", &v)
}

// repeatText says a repeat rule in a few words.
func repeatText(rp queue.Repeat) string {
	var parts []string
	if rp.Every > 0 {
		parts = append(parts, "every "+rp.Every.String())
	}
	if rp.Pattern != "" {
		parts = append(parts, strings.TrimSpace("cron "+rp.Pattern+" "+rp.TZ))
	}
	if rp.Limit > 0 {
		parts = append(parts, strconv.Itoa(rp.Limit)+" times")
	}
	if !rp.EndDate.IsZero() {
		parts = append(parts, "until "+stamp(rp.EndDate))
	}
	return strings.Join(parts, ", ")
}

// eventRow is an event in the event page and in the stream.
type eventRow struct {
	ID     uint64 `json:"id"`
	Queue  string `json:"queue"`
	Type   string `json:"type"`
	Time   string `json:"time"`
	JobID  string `json:"job,omitempty"`
	Name   string `json:"name,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func eventRowOf(queue string, ev backend.Event) eventRow {
	e := eventRow{ID: ev.ID, Queue: queue, Type: string(ev.Type), Time: stamp(ev.Time), JobID: ev.JobID, Name: ev.Name}
	var d []string
	if ev.Reason != "" {
		d = append(d, ev.Reason)
	}
	if len(ev.Progress) > 0 {
		d = append(d, "progress "+string(ev.Progress))
	}
	if len(ev.Result) > 0 {
		d = append(d, "result "+clip(string(ev.Result), 120))
	}
	if ev.Count > 0 {
		d = append(d, strconv.Itoa(ev.Count)+" jobs")
	}
	if ev.SchedulerID != "" {
		d = append(d, "scheduler "+ev.SchedulerID)
	}
	if !ev.RunAt.IsZero() {
		d = append(d, "runs at "+stamp(ev.RunAt))
	}
	if len(ev.Data) > 0 {
		d = append(d, "data "+clip(string(ev.Data), 120))
	}
	e.Detail = strings.ToValidUTF8(strings.Join(d, "; "), "\uFFFD")
	return e
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

type eventsView struct {
	Name   string
	Events []eventRow
	// Stream is the URL of the queue's live events, from the newest
	// shown on: no event falls between the page and the stream.
	Stream string
}

func (eventsView) tab() string { return "events" }

func (h *handler) eventsPage(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	evs, err := h.tail(ctx, name, h.opts.PageSize)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := eventsView{Name: name}
	var after uint64
	if len(evs) > 0 {
		after = evs[len(evs)-1].ID
	} else if after, err = h.store.LastEventID(ctx, name); err != nil {
		h.fail(w, r, err)
		return
	}
	v.Stream = streamURL(url.Values{"queue": {name}, "events": {"1"}, "after": {strconv.FormatUint(after, 10)}})
	for i := len(evs) - 1; i >= 0; i-- {
		v.Events = append(v.Events, eventRowOf(name, evs[i]))
	}
	h.render(w, r, http.StatusOK, "events", &v)
}

// streamURL is the path of the event stream with query q, relative to
// the root.
func streamURL(q url.Values) string {
	return "stream?" + q.Encode()
}

// redirect sends the browser to rel, a path relative to the dashboard's
// root, with 303 See Other (a GET, whatever the request was). The
// Location is relative, so it holds under any mount prefix.
func (h *handler) redirect(w http.ResponseWriter, r *http.Request, rel string) {
	w.Header().Set("Location", root(r.URL.EscapedPath())+rel)
	w.WriteHeader(http.StatusSeeOther)
}
