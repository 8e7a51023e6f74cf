package dashboard

import (
	"bytes"
	"cmp"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/droverhq/drover/backend"
)

// pages are the parsed templates, one set per page, each with the layout.
type pages map[string]*template.Template

// pageNames are the pages under templates/, each NAME.html defining
// "content" for layout.html.
var pageNames = []string{"overview", "queue", "job", "schedulers", "events", "limits", "error"}

var funcs = template.FuncMap{
	"path":    url.PathEscape,
	"payload": payloadText,
	"stamp":   stamp,
	"query":   query,
	"add":     func(a, b int) int { return a + b },
	"act":     act,
}

func parsePages() pages {
	p := pages{}
	for _, name := range pageNames {
		p[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

// page is what the layout of every page gets; Data is the page's own.
type page struct {
	Title    string
	Base     string
	Token    string
	ReadOnly bool
	// Queue is the queue the page is about, for the navigation.
	Queue string
	// Tab names the page of a queue that is open.
	Tab string
	// Flash is the outcome of the action that led here.
	Flash string
	// Back is the page's own path and query, where an action returns to.
	Back string
	Now  time.Time
	Data any
}

// render writes page name with data, or a plain error if the template
// fails (a bug: the templates are tested).
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p := page{
		Title:    h.opts.Title,
		Base:     root(r.URL.EscapedPath()),
		Token:    h.token,
		ReadOnly: h.opts.ReadOnly,
		Queue:    r.PathValue("queue"),
		Flash:    h.flash(r),
		Back:     backOf(r),
		Now:      time.Now(),
		Data:     data,
	}
	if tv, ok := data.(interface{ tab() string }); ok {
		p.Tab = tv.tab()
	}
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, &p); err != nil {
		h.log.ErrorContext(r.Context(), "dashboard template failed", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// backOf returns the path and query of r relative to the dashboard's
// root, without the outcome of a previous action.
func backOf(r *http.Request) string {
	q := r.URL.Query()
	q.Del("done")
	q.Del("sig")
	back := cmp.Or(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "./")
	if len(q) > 0 {
		back += "?" + q.Encode()
	}
	return back
}

// query builds a query string from name and value pairs, leaving out
// empty values.
func query(kv ...any) template.URL {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		var v string
		switch x := kv[i+1].(type) {
		case string:
			v = x
		case backend.JobState:
			v = string(x)
		case int:
			if x != 0 {
				v = itoa(x)
			}
		}
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return template.URL("?" + q.Encode())
}

// payloadText shows a job's data, result or progress: JSON indented,
// anything else as text. The template escapes it.
func payloadText(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Valid(p) && json.Indent(&buf, p, "", "  ") == nil {
		return buf.String()
	}
	return strings.ToValidUTF8(string(p), "\uFFFD")
}

// stamp formats a time for a page: UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

// actionView is one action's form: a button, and the question it asks
// first when it destroys data.
type actionView struct {
	*page
	Action, Label, Confirm string
	// State is sent with the action (bulk actions, and where to go after
	// a removal).
	State backend.JobState
	Class string
}

// act makes an action's form for a template: p, the action's path
// relative to the root, its label, and optionally the confirmation
// question, the state and a CSS class.
func act(p *page, action, label string, more ...string) actionView {
	a := actionView{page: p, Action: action, Label: label}
	if len(more) > 0 {
		a.Confirm = more[0]
	}
	if len(more) > 1 {
		a.State = backend.JobState(more[1])
	}
	if len(more) > 2 {
		a.Class = more[2]
	}
	return a
}
