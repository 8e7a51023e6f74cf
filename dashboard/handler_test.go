package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/dashboard"
	"github.com/droverhq/drover/queue"
)

// site is a dashboard served on loopback, and a client that does not
// follow redirects.
type site struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	// prefix is where the dashboard is mounted.
	prefix string
}

func serve(t *testing.T, store backend.Full, opts *dashboard.Options) *site {
	t.Helper()
	if opts == nil {
		opts = &dashboard.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv := httptest.NewServer(dashboard.Handler(store, opts))
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, client: noRedirects(srv.Client())}
}

func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// get fetches path and returns its status and body.
func (s *site) get(path string) (int, string) {
	s.t.Helper()
	res, err := s.client.Get(s.srv.URL + s.prefix + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// page fetches path, fails the test unless it is 200, and returns it.
func (s *site) page(path string) string {
	s.t.Helper()
	code, body := s.get(path)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token returns the anti-CSRF token of the dashboard's forms.
func (s *site) token() string {
	s.t.Helper()
	m := tokenRE.FindStringSubmatch(s.page("/queues/mail"))
	if m == nil {
		s.t.Fatal("no token in the queue page's forms")
	}
	return html.UnescapeString(m[1])
}

// post submits a form to path as a page of the dashboard would, with
// hdr on top (an empty value removes a header), and returns the status
// and the Location.
func (s *site) post(path string, form url.Values, hdr map[string]string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+s.prefix+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", s.srv.URL)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Location")
}

// act posts an action with the token and back, and fails the test
// unless the dashboard redirects to a page that reports it done.
func (s *site) act(path string, form url.Values) string {
	s.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", s.token())
	code, loc := s.post(path, form, nil)
	if code != http.StatusSeeOther || !strings.Contains(loc, "done=") {
		s.t.Fatalf("POST %s: %d to %q; want 303 to a page that says it is done", path, code, loc)
	}
	return loc
}

func parse(t *testing.T, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func contains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func TestPages(t *testing.T) {
	store, f := stock(t)
	s := serve(t, store, nil)

	home := s.page("/")
	contains(t, "the overview", home, "mail", "other", "paused", `data-state="failed">2<`, `data-state="waiting">2<`,
		`data-state="waiting-children">1<`, "/min", `data-stream="stream"`, `src="assets/app.js"`, `<base href="./">`)

	jobs := s.page("/queues/mail?state=failed")
	contains(t, "the failed jobs", jobs, "charge", "card declined", "Retry all failed", "Clean failed", `<base href="../">`,
		`href="queues/mail/jobs/`+f.failed+`"`)
	contains(t, "the waiting jobs", s.page("/queues/mail"), "welcome", "part-b")
	contains(t, "the delayed jobs", s.page("/queues/mail?state=delayed"), "remind", "repeat:hourly:", "Promote all")
	contains(t, "the active jobs", s.page("/queues/mail?state=active"), "resize")

	job := s.page("/queues/mail/jobs/" + f.failed)
	contains(t, "the failed job", job, "charge", "card declined", "main.charge", "calling the bank", "50",
		`&#34;card&#34;: &#34;4242&#34;`, "1 of 1 made", "/retry", "/remove", `<base href="../../../">`)
	parent := s.page("/queues/mail/jobs/" + f.parent)
	contains(t, "the flow parent", parent, "waiting-children", "child", f.childDone, f.childWaiting, "completed: &#34;a done&#34;")
	contains(t, "a child", s.page("/queues/mail/jobs/"+f.childWaiting), "parent", `href="queues/mail/jobs/`+f.parent+`"`)
	contains(t, "the completed job", s.page("/queues/mail/jobs/"+f.completed), "Result", "&#34;sent&#34;: true")

	contains(t, "the schedulers", s.page("/queues/mail/schedulers"), "hourly", "every 1h0m0s", "tick", "Remove")
	events := s.page("/queues/mail/events")
	contains(t, "the events", events, "added", "delayed", "scheduler-upserted", "scheduler hourly", `data-stream="stream?after=`)

	for _, c := range []struct {
		path string
		code int
	}{
		{"/queues/mail/jobs/nope", http.StatusNotFound},
		{"/queues/mail?state=lost", http.StatusBadRequest},
		{"/queues/bad%7Bname%7D", http.StatusBadRequest},
		{"/nowhere", http.StatusNotFound},
		{"/assets/app.js", http.StatusOK},
		{"/assets/style.css", http.StatusOK},
	} {
		if code, body := s.get(c.path); code != c.code {
			t.Errorf("GET %s: %d, want %d\n%s", c.path, code, c.code, body)
		}
	}
}

func TestPaging(t *testing.T) {
	store, _ := stock(t)
	q, err := queue.New(store, "bulk", nil)
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]queue.BulkJob, 60)
	for i := range jobs {
		jobs[i] = queue.BulkJob{Name: "n" + strings.Repeat("x", i%3)}
	}
	if _, err := q.AddBulk(t.Context(), jobs); err != nil {
		t.Fatal(err)
	}
	s := serve(t, store, &dashboard.Options{PageSize: 25})
	first := s.page("/queues/bulk")
	if n := strings.Count(first, `href="queues/bulk/jobs/`); n != 25 {
		t.Errorf("first page lists %d jobs, want 25", n)
	}
	contains(t, "the first page", first, `href="queues/bulk?offset=25&amp;state=waiting" rel="next"`)
	last := s.page("/queues/bulk?offset=50")
	if n := strings.Count(last, `href="queues/bulk/jobs/`); n != 10 {
		t.Errorf("last page lists %d jobs, want 10", n)
	}
	contains(t, "the last page", last, `rel="prev"`, "from 51")
	if strings.Contains(last, `rel="next"`) {
		t.Error("the last page links to a next one")
	}
}

func TestSearch(t *testing.T) {
	store, f := stock(t)
	s := serve(t, store, nil)
	// An ID opens the job.
	code, loc := s.get("/queues/mail?state=failed&q=" + f.completed)
	_ = loc
	if code != http.StatusSeeOther {
		t.Fatalf("search by ID: %d, want a redirect to the job", code)
	}
	res, err := s.client.Get(s.srv.URL + "/queues/mail?q=" + f.completed)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Location"); got != "../queues/mail/jobs/"+f.completed {
		t.Errorf("search by ID goes to %q", got)
	}
	// A name filters the jobs of the state shown.
	body := s.page("/queues/mail?state=completed&q=SEN")
	contains(t, "a search by name", body, "send", "searched completed jobs 1–2 of 2")
	if strings.Contains(body, "part-a") {
		t.Error("a search for SEN lists part-a")
	}
	contains(t, "a search that finds nothing", s.page("/queues/mail?state=completed&q=zzz"), "No completed job matches")
}

func TestEscaping(t *testing.T) {
	store, f := stock(t)
	s := serve(t, store, nil)
	pages := map[string]string{
		"failed jobs": s.page("/queues/mail?state=failed"),
		"the job":     s.page("/queues/mail/jobs/" + f.hostile),
		"events":      s.page("/queues/mail/events"),
		"search":      s.page("/queues/mail?state=failed&q=" + url.QueryEscape(`<script>`)),
		"flash":       s.page("/queues/mail?done=" + url.QueryEscape(`<script>alert(1)</script>`) + "&sig=x"),
	}
	for what, body := range pages {
		for _, raw := range []string{"<script>alert", "<img src=x", "<b onmouseover", "<iframe", "</pre><script>"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s has %q unescaped", what, raw)
			}
		}
	}
	contains(t, "the hostile job", pages["the job"], "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;",
		"&lt;img src=x onerror=alert(1)&gt;", "&lt;b onmouseover=alert(1)&gt;log&lt;/b&gt;", "&lt;/pre&gt;&lt;script&gt;")
	contains(t, "the failed jobs", pages["failed jobs"], "&lt;script&gt;")
	// The job's own link carries its ID as a path, escaped.
	hdr := httptest.NewRecorder()
	dashboard.Handler(store, nil).ServeHTTP(hdr, httptest.NewRequest(http.MethodGet, "/", nil))
	if csp := hdr.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestHostileIDs(t *testing.T) {
	store, _ := stock(t)
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := `a/b?c#d"<e> f`
	if _, err := q.Add(t.Context(), "odd", nil, &queue.AddOptions{ID: id}); err != nil {
		t.Fatal(err)
	}
	s := serve(t, store, nil)
	body := s.page("/queues/mail")
	link := `href="queues/mail/jobs/` + url.PathEscape(id) + `"`
	if !strings.Contains(body, html.EscapeString(link)) && !strings.Contains(body, link) {
		t.Fatalf("no link %s in\n%s", link, body)
	}
	contains(t, "the odd job", s.page("/queues/mail/jobs/"+url.PathEscape(id)), "odd", html.EscapeString(id))
	s.act("/queues/mail/jobs/"+url.PathEscape(id)+"/remove", nil)
	if _, err := q.Job(t.Context(), id); err == nil {
		t.Error("the odd job is still there after remove")
	}
}

func TestActions(t *testing.T) {
	ctx := context.Background()
	store, f := stock(t)
	s := serve(t, store, nil)
	state := func(id string) backend.JobState {
		t.Helper()
		j, err := store.Job(ctx, "mail", id)
		if err != nil {
			t.Fatal(err)
		}
		return j.State
	}
	job := "/queues/mail/jobs/"

	loc := s.act(job+f.failed+"/retry", url.Values{"back": {"queues/mail/jobs/" + f.failed}})
	if u := parse(t, loc); state(f.failed) != backend.StateWaiting || u.Path != "../../../../queues/mail/jobs/"+f.failed || u.Query().Get("done") != "retried job "+f.failed {
		t.Errorf("after retry: %s, to %q", state(f.failed), loc)
	}
	s.act(job+f.delayed+"/promote", nil)
	if state(f.delayed) != backend.StateWaiting {
		t.Errorf("after promote: %s", state(f.delayed))
	}
	s.act(job+f.waiting+"/cancel", nil)
	if state(f.waiting) != backend.StateFailed {
		t.Errorf("after cancel: %s", state(f.waiting))
	}
	loc = s.act(job+f.completed+"/remove", url.Values{"state": {"completed"}, "back": {"queues/mail/jobs/" + f.completed}})
	if _, err := store.Job(ctx, "mail", f.completed); err == nil || parse(t, loc).Path != "../../../../queues/mail" || parse(t, loc).Query().Get("state") != "completed" {
		t.Errorf("after remove: %v, to %q", err, loc)
	}

	// Refused by the store: a conflict, and nothing changes.
	form := url.Values{"csrf": {s.token()}}
	if code, _ := s.post(job+f.active+"/remove", form, nil); code != http.StatusConflict {
		t.Errorf("remove of an active job: %d, want 409", code)
	}
	if code, _ := s.post(job+f.active+"/promote", form, nil); code != http.StatusConflict {
		t.Errorf("promote of an active job: %d, want 409", code)
	}
	if code, _ := s.post(job+"nope/retry", form, nil); code != http.StatusNotFound {
		t.Errorf("retry of no job: %d, want 404", code)
	}
	if code, _ := s.post(job+f.failed+"/explode", form, nil); code != http.StatusNotFound {
		t.Errorf("an unknown action: %d, want 404", code)
	}

	// The queue.
	s.act("/queues/mail/pause", url.Values{"back": {"./"}})
	if c, _ := store.Counts(ctx, "mail"); !c.Paused {
		t.Error("not paused")
	}
	s.act("/queues/mail/resume", nil)
	if c, _ := store.Counts(ctx, "mail"); c.Paused {
		t.Error("not resumed")
	}
	s.act("/queues/mail/retry", url.Values{"state": {"failed"}})
	if c, _ := store.Counts(ctx, "mail"); c.Failed != 0 {
		t.Errorf("failed jobs after retrying all: %d", c.Failed)
	}
	s.act("/queues/mail/clean", url.Values{"state": {"completed"}})
	if c, _ := store.Counts(ctx, "mail"); c.Completed != 0 {
		t.Errorf("completed jobs after clean: %d", c.Completed)
	}
	if code, _ := s.post("/queues/mail/clean", url.Values{"csrf": {s.token()}, "state": {"active"}}, nil); code != http.StatusBadRequest {
		t.Errorf("clean of active jobs: %d, want 400", code)
	}
	s.act("/queues/mail/promote", nil)
	if c, _ := store.Counts(ctx, "mail"); c.Delayed != 0 {
		t.Errorf("delayed jobs after promoting all: %d", c.Delayed)
	}
	s.act("/queues/mail/schedulers/hourly/remove", nil)
	if _, err := store.Scheduler(ctx, "mail", "hourly"); err == nil {
		t.Error("the scheduler is still there")
	}
	// The page an action leads to says what it did; a link from
	// elsewhere cannot make a page say something.
	contains(t, "the page after an action", s.page(strings.TrimPrefix(loc, "../../../..")), `class="flash"`, "removed job "+f.completed)
	if body := s.page("/queues/mail?done=Your+session+ended"); strings.Contains(body, "session") {
		t.Error("a page shows the words of a link")
	}
	// A back that leaves the dashboard is not followed.
	if loc := s.act("/queues/mail/pause", url.Values{"back": {"//evil.example/x"}}); strings.Contains(loc, "evil") {
		t.Errorf("redirected to %q", loc)
	}
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	store, f := stock(t)
	s := serve(t, store, nil)
	path := "/queues/mail/jobs/" + f.failed + "/retry"
	good := url.Values{"csrf": {s.token()}}
	for _, c := range []struct {
		what string
		form url.Values
		hdr  map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"a wrong token", url.Values{"csrf": {"forged"}}, nil},
		{"a page of another site", good, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"another origin", good, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
	} {
		if code, _ := s.post(path, c.form, c.hdr); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.what, code)
		}
	}
	if j, _ := store.Job(t.Context(), "mail", f.failed); j.State != backend.StateFailed {
		t.Fatalf("a refused retry changed the job: %s", j.State)
	}
	// An action is a POST: GET is not one.
	if code, _ := s.get(path); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action: %d, want 405", code)
	}
	// The token in a header does, as does a tool that sends no browser
	// headers at all.
	if code, _ := s.post(path, url.Values{}, map[string]string{"X-Drover-Csrf": s.token(), "Sec-Fetch-Site": "", "Origin": ""}); code != http.StatusSeeOther {
		t.Errorf("the token in a header: %d, want 303", code)
	}
	// Another handler has another token.
	other := serve(t, store, nil)
	if code, _ := other.post(path, good, nil); code != http.StatusForbidden {
		t.Errorf("another handler's token: %d, want 403", code)
	}
}

func TestReadOnly(t *testing.T) {
	store, f := stock(t)
	s := serve(t, store, &dashboard.Options{ReadOnly: true})
	for _, p := range []string{"/", "/queues/mail?state=failed", "/queues/mail/jobs/" + f.failed, "/queues/mail/schedulers"} {
		body := s.page(p)
		if strings.Contains(body, `method="post"`) || strings.Contains(body, `name="csrf"`) {
			t.Errorf("read-only %s has an action form", p)
		}
		contains(t, p, body, "read-only")
	}
	for _, p := range []string{"/queues/mail/jobs/" + f.failed + "/retry", "/queues/mail/pause", "/queues/mail/schedulers/hourly/remove"} {
		if code, _ := s.post(p, url.Values{"csrf": {"any"}}, nil); code != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", p, code)
		}
	}
	if c, _ := store.Counts(t.Context(), "mail"); c != stockCounts {
		t.Errorf("read-only actions changed the counts: %+v", c)
	}
}

func TestMountedUnderAPrefix(t *testing.T) {
	store, f := stock(t)
	mux := http.NewServeMux()
	mux.Handle("/ops/drover/", http.StripPrefix("/ops/drover", dashboard.Handler(store, nil)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := &site{t: t, srv: srv, client: noRedirects(srv.Client()), prefix: "/ops/drover"}
	contains(t, "the job page", s.page("/queues/mail/jobs/"+f.failed), `<base href="../../../">`)
	contains(t, "the overview", s.page("/"), `<base href="./">`)
	loc := s.act("/queues/mail/jobs/"+f.failed+"/retry", url.Values{"back": {"queues/mail/jobs/" + f.failed}})
	base, _ := url.Parse(srv.URL + "/ops/drover/queues/mail/jobs/" + f.failed + "/retry")
	to, err := base.Parse(loc)
	if err != nil || to.Path != "/ops/drover/queues/mail/jobs/"+f.failed {
		t.Errorf("redirect %q goes to %v (%v); want the job's page under the prefix", loc, to, err)
	}
	if code, _ := s.get("/assets/app.js"); code != http.StatusOK {
		t.Errorf("an asset under the prefix: %d", code)
	}
}

// sse reads server-sent events.
type sse struct {
	t *testing.T
	r *bufio.Reader
}

// next returns the next event of one of the types wanted, skipping others.
func (s *sse) next(types ...string) (string, string) {
	s.t.Helper()
	var typ, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && typ != "":
			for _, w := range types {
				if typ == w {
					return typ, data
				}
			}
			typ, data = "", ""
		}
	}
}

func openStream(t *testing.T, ctx context.Context, s *site, query string) *sse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return &sse{t: t, r: bufio.NewReader(res.Body)}
}

// counts returns the next counts of the stream.
func (s *sse) counts() counts {
	s.t.Helper()
	_, data := s.next("counts")
	var c counts
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// waitCount reads the stream until it tells n jobs in state of queue.
func (s *sse) waitCount(queue, state string, n int) {
	s.t.Helper()
	for {
		if c := s.counts(); c.Queue == queue && c.Counts[state] == n {
			return
		}
	}
}

type counts struct {
	Queue  string         `json:"queue"`
	Counts map[string]int `json:"counts"`
	Paused bool           `json:"paused"`
	Rate   string         `json:"rate"`
}

func TestStream(t *testing.T) {
	store, f := stock(t)
	s := serve(t, store, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// All queues: first their counts as they are.
	st := openStream(t, ctx, s, "")
	seen := map[string]counts{}
	for len(seen) < 2 {
		c := st.counts()
		seen[c.Queue] = c
	}
	if c := seen["mail"]; c.Counts["waiting"] != 2 || c.Counts["failed"] != 2 || c.Rate == "" || !seen["other"].Paused {
		t.Fatalf("first counts %+v", seen)
	}
	// Then new counts when the log says they changed.
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(ctx, "late", nil, nil); err != nil {
		t.Fatal(err)
	}
	st.waitCount("mail", "waiting", 3)

	// One queue's events, from a cursor: none is missed.
	last, err := store.LastEventID(ctx, "mail")
	if err != nil {
		t.Fatal(err)
	}
	ev := openStream(t, ctx, s, "?queue=mail&events=1&after="+itoa(last-1))
	_, data := ev.next("job")
	var row struct {
		ID   uint64 `json:"id"`
		Type string `json:"type"`
		Job  string `json:"job"`
	}
	if err := json.Unmarshal([]byte(data), &row); err != nil || row.ID != last {
		t.Fatalf("first event %s (%v); want ID %d", data, err, last)
	}
	if err := store.RemoveJob(ctx, "mail", f.completed); err != nil {
		t.Fatal(err)
	}
	_, data = ev.next("job")
	if err := json.Unmarshal([]byte(data), &row); err != nil || row.Type != "removed" || row.Job != f.completed {
		t.Fatalf("event %s (%v); want the removal", data, err)
	}

	for _, c := range []struct{ query string }{{"?queue=bad%7Bname%7D"}, {"?queue=mail&after=x"}, {"?queue=mail&after=999999"}} {
		if code, _ := s.get("/stream" + c.query); code/100 != 4 {
			t.Errorf("stream%s: %d, want a 4xx", c.query, code)
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestStreamEndsWithTheRequest checks that a stream, and every goroutine
// that follows a queue for it, ends when its client goes away.
func TestStreamEndsWithTheRequest(t *testing.T) {
	store, _ := stock(t)
	var live sync.WaitGroup
	h := dashboard.Handler(store, &dashboard.Options{Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		live.Add(1)
		defer live.Done()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s := &site{t: t, srv: srv, client: noRedirects(srv.Client())}
	ctx, cancel := context.WithCancel(t.Context())
	st := openStream(t, ctx, s, "?events=1")
	st.next("counts")
	cancel()
	ended := make(chan struct{})
	go func() {
		live.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's handler still runs 10s after its client went away")
	}
}
