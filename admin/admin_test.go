package admin_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/admin"
	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/internal/shortdir"
)

// openStore opens a fresh bbolt store with one waiting job (ID "1") in
// queue "mail", closed when the test ends.
func openStore(t *testing.T) *bolt.Backend {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "jobs.db"), &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Add(t.Context(), "mail", &backend.AddRequest{Jobs: []backend.NewJob{{Name: "send", Data: []byte(`{"to":"ada"}`)}}}); err != nil {
		t.Fatal(err)
	}
	return store
}

func TestErrorsKeepTheirClassThroughTheClient(t *testing.T) {
	store := openStore(t)
	srv := httptest.NewServer(admin.Handler(store, nil))
	defer srv.Close()
	c := admin.NewClient(srv.URL, nil)
	defer c.Close()
	ctx := t.Context()

	_, err := c.Job(ctx, "mail", "404")
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Job of an unknown ID: %v; want ErrNotFound", err)
	}
	if re, ok := errors.AsType[*admin.RemoteError](err); !ok || re.Code != admin.CodeNotFound {
		t.Errorf("Job of an unknown ID: %#v; want a RemoteError with code not_found", err)
	}

	_, err = c.Promote(ctx, "mail", &backend.PromoteRequest{ID: "1"})
	ws, ok := errors.AsType[*backend.WrongStateError](err)
	if !errors.Is(err, backend.ErrWrongState) || !ok || ws.State != backend.StateWaiting || ws.ID != "1" || !slices.Equal(ws.Want, []backend.JobState{backend.StateDelayed}) {
		t.Errorf("Promote of a waiting job: %v (%#v); want a WrongStateError naming the state", err, ws)
	}

	_, err = c.Jobs(ctx, "mail", &backend.JobsRequest{State: "lost"})
	if ve, ok := errors.AsType[*backend.ValidationError](err); !errors.Is(err, backend.ErrInvalid) || !ok || ve.Field == "" {
		t.Errorf("Jobs of a bad state: %v; want a ValidationError", err)
	}
	if _, err = c.Counts(ctx, "a{b}"); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("Counts of a bad queue name: %v; want ErrInvalid", err)
	}

	_, err = c.Events(ctx, "mail", &backend.EventsRequest{After: 1000})
	if ea, ok := errors.AsType[*backend.EventsAheadError](err); !errors.Is(err, backend.ErrEventsAhead) || !ok || ea.After != 1000 || ea.Last == 0 {
		t.Errorf("Events after a cursor ahead of the log: %v; want an EventsAheadError with its fields", err)
	}

	if _, err := c.Add(ctx, "mail", &backend.AddRequest{}); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("Add through the endpoint: %v; want ErrUnsupported", err)
	}
}

func TestTheClientReadsAndActs(t *testing.T) {
	store := openStore(t)
	srv := httptest.NewServer(admin.Handler(store, nil))
	defer srv.Close()
	c := admin.NewClient(srv.URL+"/", nil)
	ctx := t.Context()

	j, err := c.Job(ctx, "mail", "1")
	if err != nil || j.Name != "send" || string(j.Data) != `{"to":"ada"}` || j.State != backend.StateWaiting {
		t.Fatalf("Job = %+v, %v", j, err)
	}
	if err := c.SetPaused(ctx, "mail", true); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Counts(ctx, "mail"); err != nil || n.Waiting != 1 || !n.Paused {
		t.Fatalf("Counts = %+v, %v; want one waiting, paused", n, err)
	}
	if qs, err := c.Queues(ctx); err != nil || !slices.Equal(qs, []string{"mail"}) {
		t.Fatalf("Queues = %v, %v", qs, err)
	}
	if res, err := c.Drain(ctx, "mail", nil); err != nil || res.Removed != 1 {
		t.Fatalf("Drain = %+v, %v", res, err)
	}
	// A read that waits returns when an event comes.
	last, err := c.LastEventID(ctx, "mail")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan backend.EventsResult, 1)
	go func() {
		res, _ := c.Events(ctx, "mail", &backend.EventsRequest{After: last, Wait: time.Minute})
		got <- res
	}()
	if _, err := store.Publish(ctx, "mail", &backend.PublishRequest{Name: "hello"}); err != nil {
		t.Fatal(err)
	}
	if res := <-got; len(res.Events) != 1 || res.Events[0].Name != "hello" {
		t.Fatalf("waiting Events = %+v; want the published event", res)
	}
	c.Close()
	if _, err := c.Counts(ctx, "mail"); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Counts after Close: %v; want ErrClosed", err)
	}
}

func TestTheHandlerRefusesWhatItShould(t *testing.T) {
	h := admin.Handler(openStore(t), nil)
	for _, c := range []struct {
		name, method, path, ctype, remote string
		status                            int
		code                              admin.Code
	}{
		{"a remote caller", "POST", "/v1/counts", "application/json", "192.0.2.7:5000", http.StatusForbidden, admin.CodeDenied},
		{"a GET", "GET", "/v1/counts", "application/json", "127.0.0.1:5000", http.StatusBadRequest, admin.CodeInvalid},
		{"a form post", "POST", "/v1/counts", "application/x-www-form-urlencoded", "127.0.0.1:5000", http.StatusBadRequest, admin.CodeInvalid},
		{"an unknown method", "POST", "/v1/lease", "application/json", "[::1]:5000", http.StatusNotImplemented, admin.CodeUnsupported},
		{"a Unix socket's caller", "POST", "/v1/counts", "application/json", "@", http.StatusOK, ""},
	} {
		r := httptest.NewRequest(c.method, c.path, strings.NewReader(`{"queue":"mail"}`))
		r.RemoteAddr = c.remote
		r.Header.Set("Content-Type", c.ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.status || (c.code != "" && !strings.Contains(w.Body.String(), `"code":"`+string(c.code)+`"`)) {
			t.Errorf("%s: %d %s; want %d with code %q", c.name, w.Code, w.Body.String(), c.status, c.code)
		}
	}
	// AllowRemote lets remote callers in.
	r := httptest.NewRequest("POST", "/v1/counts", strings.NewReader(`{"queue":"mail"}`))
	r.RemoteAddr, r.Header["Content-Type"] = "192.0.2.7:5000", []string{"application/json"}
	w := httptest.NewRecorder()
	admin.Handler(openStore(t), &admin.HandlerOptions{AllowRemote: true}).ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("AllowRemote: %d %s", w.Code, w.Body.String())
	}
}

func TestListenUnix(t *testing.T) {
	store := openStore(t)
	path := admin.SocketPath(filepath.Join(shortdir.New(t), "jobs.db"))
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := admin.ListenUnix(ctx, path, admin.Handler(store, nil))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v, %v; want mode 0600", fi, err)
	}
	if srv.URL() != "unix://"+path {
		t.Errorf("URL = %q", srv.URL())
	}
	c, err := admin.Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.Counts(ctx, "mail"); err != nil || n.Waiting != 1 {
		t.Fatalf("Counts over the socket = %+v, %v", n, err)
	}
	if _, err := admin.ListenUnix(t.Context(), path, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("a second ListenUnix on a live socket: %v; want an error", err)
	}

	// Cancelling ctx stops serving and removes the socket.
	cancel()
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: %v; want it removed", err)
	}
	if _, err := c.Counts(t.Context(), "mail"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Counts after the server stopped: %v; want ErrUnavailable", err)
	}
}

func TestListenUnixReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(shortdir.New(t), "s.sock")
	// A socket that nobody serves any more, as a killed process leaves it.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	srv, err := admin.ListenUnix(t.Context(), path, admin.Handler(openStore(t), nil))
	if err != nil {
		t.Fatalf("ListenUnix over a stale socket: %v", err)
	}
	srv.Close()

	plain := filepath.Join(filepath.Dir(path), "plain")
	if err := os.WriteFile(plain, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ListenUnix(t.Context(), plain, http.NotFoundHandler()); err == nil {
		t.Error("ListenUnix over a regular file succeeded")
	}
	if b, err := os.ReadFile(plain); err != nil || string(b) != "mine" {
		t.Errorf("the regular file after: %q, %v; want it untouched", b, err)
	}
}

func TestDial(t *testing.T) {
	for _, bad := range []string{"", "unix://", "ftp://x", "/path/to/sock"} {
		if _, err := admin.Dial(bad); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("Dial(%q) = %v; want ErrInvalid", bad, err)
		}
	}
	c, err := admin.Dial("unix://" + filepath.Join(shortdir.New(t), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Queues(t.Context()); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("a socket nobody serves: %v; want ErrUnavailable", err)
	}
	// Something that answers, but not as an endpoint.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err = admin.Dial(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Queues(t.Context()); err == nil || !strings.Contains(err.Error(), "not a drover admin endpoint") {
		t.Errorf("a server that is no endpoint: %v", err)
	}
}
