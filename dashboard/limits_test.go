package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/dashboard"
	"github.com/droverhq/drover/queue"
)

func TestLimitsPage(t *testing.T) {
	ctx := t.Context()
	store, _ := stock(t)
	q, err := queue.New(store, "tenants", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.SetLimits(ctx, queue.Limits{Concurrency: 3, Rate: 10, RatePer: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetGroupLimits(ctx, queue.Limits{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	if err := q.Hold(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	const hostileGroup = `<i>acme</i>`
	for i, g := range []string{"acme", "acme", hostileGroup, "zeta"} {
		if _, err := q.Add(ctx, "export-"+string(rune('a'+i)), nil, &queue.AddOptions{Group: g}); err != nil {
			t.Fatal(err)
		}
	}
	s := serve(t, store, &dashboard.Options{PageSize: 2})

	page := s.page("/queues/tenants/limits")
	contains(t, "the limits page", page, "3 at once, 10 starts per second", "Held until", "1 at once",
		"&lt;i&gt;acme&lt;/i&gt;", `href="queues/tenants/limits?group=acme"`, "/groups/acme/pause", `class="on">Limits<`,
		`href="queues/tenants/limits?after=acme"`, `href="queues/tenants/limits?group=%3Ci%3Eacme%3C%2Fi%3E"`)
	if strings.Contains(page, hostileGroup) || strings.Contains(page, "zeta") {
		t.Errorf("the first page of two groups shows a group name unescaped, or the third group")
	}
	contains(t, "the second page of groups", s.page("/queues/tenants/limits?after=acme"), "zeta", "← first")
	contains(t, "a group's waiting jobs", s.page("/queues/tenants/limits?group=acme"), "Waiting jobs of group acme", "export-a", "export-b")

	loc := s.act("/queues/tenants/groups/acme/pause", url.Values{"back": {"queues/tenants/limits?group=acme"}})
	if u := parse(t, loc); u.Query().Get("done") != "paused group acme" || u.Query().Get("group") != "acme" {
		t.Errorf("after pause: to %q", loc)
	}
	res, err := q.Groups(ctx, "", 10)
	if err != nil || len(res.Groups) != 3 || res.Groups[1].Name != "acme" || !res.Groups[1].Paused {
		t.Fatalf("groups after pause = %+v, %v", res.Groups, err)
	}
	contains(t, "the page of a paused group", s.page("/queues/tenants/limits"), "paused", "/groups/acme/resume")
	s.act("/queues/tenants/groups/acme/resume", nil)
	if res, _ := q.Groups(ctx, "", 10); res.Groups[1].Paused {
		t.Error("the group is still paused after resume")
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/queues/tenants/limits?group=" + url.QueryEscape("a\x00b"), http.StatusBadRequest},
		{"/queues/bad%7Bname%7D/limits", http.StatusBadRequest},
		{"/queues/empty/limits", http.StatusOK},
	} {
		if code, body := s.get(c.path); code != c.code {
			t.Errorf("GET %s: %d, want %d\n%s", c.path, code, c.code, body)
		}
	}
	form := url.Values{"csrf": {s.token()}}
	if code, _ := s.post("/queues/tenants/groups/acme/explode", form, nil); code != http.StatusNotFound {
		t.Errorf("an unknown group action: %d, want 404", code)
	}
	if c, err := store.Counts(ctx, "tenants"); err != nil || c.Waiting != 4 {
		t.Errorf("counts after the group actions: %+v, %v", c, err)
	}

	ro := serve(t, store, &dashboard.Options{ReadOnly: true})
	if body := ro.page("/queues/tenants/limits"); strings.Contains(body, `method="post"`) {
		t.Error("the read-only limits page has an action form")
	}
	if code, _ := ro.post("/queues/tenants/groups/acme/pause", url.Values{"csrf": {"any"}}, nil); code != http.StatusForbidden {
		t.Errorf("read-only group pause: %d, want 403", code)
	}
}
