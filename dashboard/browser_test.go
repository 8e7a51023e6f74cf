package dashboard_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/droverhq/drover/dashboard"
	"github.com/droverhq/drover/queue"
)

// browserDeadline bounds each browser test; no test asserts how fast a
// page is.
const browserDeadline = 45 * time.Second

// browser returns a context whose actions drive a new headless Chromium,
// which ends with the test. Without Chromium the test skips, unless
// DROVER_REQUIRE_BROWSER=1 (as in CI), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("DROVER_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium on PATH, and DROVER_REQUIRE_BROWSER=1 requires the browser tests (Debian: apt-get install chromium)")
		}
		t.Skip("no Chromium on PATH: install it (Debian: apt-get install chromium) to run the browser tests")
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.WindowSize(1100, 520),
		// Containers and CI often run as root, where Chromium's sandbox
		// cannot start; the pages are the test's own.
		chromedp.NoSandbox,
	)
	ctx, cancel := context.WithTimeout(t.Context(), browserDeadline)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium at %s: %v", path, err)
	}
	return ctx
}

// artifacts returns the directory for files a test leaves for people to
// look at: $DROVER_ARTIFACTS, or the test's temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DROVER_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// count is the selector of the count of a state of a queue on a page.
func count(queue, state string) string {
	return fmt.Sprintf(`a[data-queue=%q][data-state=%q]`, queue, state)
}

// waitText waits, as the page changes, until an element that matches sel
// holds text exactly.
func waitText(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).some(el => el.textContent.trim() === %q)`, sel, text),
		chromedp.WithPollingMutation())
}

// TestBrowser opens the dashboard of a store with jobs in every state in
// Chromium: it checks the counts shown and that they follow jobs added
// from outside the page, saves a screenshot of the overview, then opens
// the failed job, presses Retry and sees it run and complete in a worker,
// on the job's page, which follows the job.
func TestBrowser(t *testing.T) {
	store, f := stock(t)
	srv := httptest.NewServer(dashboard.Handler(store, &dashboard.Options{Logger: slog.New(slog.DiscardHandler)}))
	// Closed after the browser, whose pages hold event streams open.
	t.Cleanup(srv.Close)
	ctx := browser(t)

	// The overview, with the counts of the fixture, live.
	want := map[string]int{"waiting": 2, "delayed": 2, "active": 1, "waiting-children": 1, "completed": 2, "failed": 2}
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(srv.URL + "/"), chromedp.WaitVisible("#live")}
	for state, n := range want {
		actions = append(actions, waitText(count("mail", state), strconv.Itoa(n)))
	}
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("the overview's counts: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifacts(t), "dashboard-overview.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the overview: %s", path)

	// Jobs added from outside the page show in its counts.
	other, err := queue.New(store, "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := other.Add(ctx, "late", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Run(ctx, waitText(count("other", "waiting"), "3")); err != nil {
		t.Fatalf("the live count of the jobs added: %v", err)
	}

	// The event page lists new events as they come.
	mail, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/queues/mail/events"), chromedp.WaitVisible("#live")); err != nil {
		t.Fatalf("the event page: %v", err)
	}
	late, err := mail.Add(ctx, "<i>late</i>", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, waitText("#events tbody td:nth-child(5)", "<i>late</i>")); err != nil {
		t.Fatalf("the new event on the event page: %v", err)
	}
	if _, err := chromedp.Run(ctx, waitText(fmt.Sprintf(`#events tbody a[href="queues/mail/jobs/%s"]`, late.ID), late.ID)); err != nil {
		t.Fatalf("the link to the new event's job: %v", err)
	}

	// A worker that completes every job: the failed charge succeeds
	// once retried, when the test lets it.
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	release := make(chan struct{})
	w, err := queue.NewWorker(store, "mail", func(ctx context.Context, j *queue.Job) ([]byte, error) {
		if j.ID == f.failed {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return []byte(`{"ok":true}`), nil
	}, &queue.WorkerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = w.Run(wctx) })

	// From the failed jobs to the one that failed, then Retry.
	err = chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/queues/mail?state=failed"),
		chromedp.Click(fmt.Sprintf(`a[href="queues/mail/jobs/%s"]`, f.failed)),
		chromedp.WaitVisible("#error"),
	)
	if err != nil {
		t.Fatalf("opening the failed job: %v", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text("#error"))
	if err != nil {
		t.Fatal(err)
	}
	// The job's page follows it: running, then completed.
	err = chromedp.Do(ctx,
		chromedp.Click(`form[action$="/retry"] button`),
		chromedp.WaitVisible(".flash"),
		waitText("h1 .state", "active"),
	)
	if err != nil {
		t.Fatalf("retrying the failed job: %v", err)
	}
	close(release)
	err = chromedp.Do(ctx,
		waitText("h1 .state", "completed"),
		waitText("#result", `{
  "ok": true
}`),
	)
	if err != nil {
		t.Fatalf("the retried job's completion: %v", err)
	}
	if reason != "card declined" {
		t.Errorf("the failed job's error reads %q", reason)
	}
	if j, err := store.Job(ctx, "mail", f.failed); err != nil || j.State != queue.StateCompleted {
		t.Errorf("the retried job in the store: %+v, %v", j, err)
	}
}
