package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/droverhq/drover/backend"
)

// limitsView is the flow-control page of a queue: its limits, its groups
// with their counts, and the waiting jobs of one group.
type limitsView struct {
	Name string
	// HasLimits and HasGroups say what the store serves.
	HasLimits, HasGroups bool
	Limits               string
	HeldUntil, NextStart string
	GroupLimits          string
	Groups               []backend.GroupInfo
	// After is the name of the group the page starts after; Next that of
	// the next page's, "" when there is none.
	After, Next string
	// Group is the group whose jobs are shown, and Jobs its first waiting
	// ones.
	Group string
	Jobs  []jobRow
}

func (limitsView) tab() string { return "limits" }

func (h *handler) limitsPage(w http.ResponseWriter, r *http.Request, name string) {
	ctx := r.Context()
	q := r.URL.Query()
	v := limitsView{Name: name, After: q.Get("after"), Group: q.Get("group")}
	if l, ok := h.store.(backend.Limiter); ok {
		ql, err := l.Limits(ctx, name)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.HasLimits = true
		v.Limits = limitsText(ql.Limits)
		if t := ql.HeldUntil; t.After(now()) {
			v.HeldUntil = stamp(t) + " (" + since(now(), t) + ")"
		}
		if t := ql.NextStart; t.After(now()) {
			v.NextStart = stamp(t)
		}
	}
	if g, ok := h.store.(backend.GroupStore); ok {
		v.HasGroups = true
		if err := h.groupsOf(ctx, g, &v); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "limits", &v)
}

// groupsOf fills in a page of the queue's groups, and the waiting jobs of
// the group asked for.
func (h *handler) groupsOf(ctx context.Context, g backend.GroupStore, v *limitsView) error {
	res, err := g.Groups(ctx, v.Name, &backend.GroupsRequest{After: v.After, Limit: h.opts.PageSize + 1})
	if err != nil {
		return err
	}
	if len(res.Groups) > h.opts.PageSize {
		res.Groups = res.Groups[:h.opts.PageSize]
		v.Next = res.Groups[len(res.Groups)-1].Name
	}
	v.Groups, v.GroupLimits = res.Groups, limitsText(res.Limits)
	if v.Group == "" {
		return nil
	}
	jobs, err := g.GroupJobs(ctx, v.Name, v.Group, &backend.JobsRequest{State: backend.StateWaiting, Limit: h.opts.PageSize})
	if err != nil {
		return err
	}
	for _, j := range jobs.Jobs {
		v.Jobs = append(v.Jobs, jobRowOf(j))
	}
	return nil
}

// limitsText says limits in a few words.
func limitsText(l backend.Limits) string {
	s := "no limit"
	if l.Concurrency > 0 {
		s = strconv.Itoa(l.Concurrency) + " at once"
	}
	if l.Rate > 0 {
		per := l.RatePer.String()
		if l.RatePer == time.Second {
			per = "second"
		}
		rate := strconv.Itoa(l.Rate) + " starts per " + per
		if l.Concurrency > 0 {
			return s + ", " + rate
		}
		return rate
	}
	return s
}

// groupAction pauses or resumes a group of a queue.
func (h *handler) groupAction(ctx context.Context, r *http.Request, name string) (string, string, error) {
	g, ok := h.store.(backend.GroupStore)
	if !ok {
		return "", "", fmt.Errorf("%w: the store does not serve groups", backend.ErrUnsupported)
	}
	group := r.PathValue("group")
	var paused bool
	switch r.PathValue("action") {
	case "pause":
		paused = true
	case "resume":
	default:
		return "", "", fmt.Errorf("%w: no group action %q", backend.ErrNotFound, r.PathValue("action"))
	}
	if err := g.PauseGroup(ctx, name, group, paused); err != nil {
		return "", "", err
	}
	return r.PathValue("action") + "d group " + group, "", nil
}
