package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/droverhq/drover/admin"
	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/bolt"
	"github.com/droverhq/drover/backend/redis"
	"github.com/droverhq/drover/internal/redistest"
	"github.com/droverhq/drover/internal/shortdir"
	"github.com/droverhq/drover/queue"
)

// bin is the drover binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drover-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "drover")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// deadline bounds a run of the binary; no test asserts how fast one is.
const deadline = 60 * time.Second

// result is what a run of drover printed, and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

// drover runs the binary with args, REDIS_URL unset unless env sets it.
func drover(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "REDIS_URL=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("drover %v: %v", args, err)
	}
	return r
}

// start starts the binary with args, to run until ctx ends, for a test
// that reads its output as it comes; the test waits for cmd.
func start(t *testing.T, ctx context.Context, args ...string) (cmd *exec.Cmd, stdout io.Reader, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.CommandContext(ctx, bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

// want fails the test unless the run exited with code and printed each
// of outs on stdout and each of errs on stderr.
func (r result) want(t *testing.T, code int, outs []string, errs ...string) {
	t.Helper()
	ok := r.code == code
	for _, s := range outs {
		ok = ok && strings.Contains(r.stdout, s)
	}
	for _, s := range errs {
		ok = ok && strings.Contains(r.stderr, s)
	}
	if !ok {
		t.Fatalf("exit %d; want %d with %q on stdout and %q on stderr\nstdout:\n%s\nstderr:\n%s", r.code, code, outs, errs, r.stdout, r.stderr)
	}
}

// jsonOf decodes a run's stdout into a T.
func jsonOf[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not the JSON wanted: %v\n%s", err, r.stdout)
	}
	return v
}

// compact returns JSON without its spaces.
func compact(p payload) string {
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return string(p)
	}
	return b.String()
}

// fixture is what fill put in a store: the IDs of jobs in each state.
type fixture struct {
	waiting, delayed, failed, completed, parent, childDone, childWaiting string
}

// fill adds to store the jobs every test inspects: in queue "mail" one
// job of each state a command acts on, a flow, and a job scheduler; and
// a paused queue "other".
func fill(t *testing.T, store backend.Full) fixture {
	t.Helper()
	ctx := t.Context()
	q, err := queue.New(store, "mail", nil)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	add := func(name, data string, opts *queue.AddOptions) string {
		t.Helper()
		j, err := q.Add(ctx, name, []byte(data), opts)
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	settle := func(s backend.Settlement) {
		t.Helper()
		res, err := store.Settle(ctx, "mail", &backend.SettleRequest{Settlements: []backend.Settlement{s}})
		if err != nil || res.Errs[0] != nil {
			t.Fatalf("Settle: %v %v", err, res.Errs)
		}
	}
	lease := func() *backend.Job {
		t.Helper()
		res, err := store.Lease(ctx, "mail", &backend.LeaseRequest{Worker: "w1", Max: 1, TTL: time.Minute, MaxStalled: 1})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("Lease: %v %v", err, res.Jobs)
		}
		return res.Jobs[0]
	}
	// Run the first jobs before adding the rest, so that a lease takes them.
	f.failed = add("charge", `{"card":"4242"}`, nil)
	j := lease()
	if _, err := store.AddLog(ctx, "mail", j.ID, "calling the bank"); err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateProgress(ctx, "mail", j.ID, []byte(`50`)); err != nil {
		t.Fatal(err)
	}
	settle(backend.Settlement{Lease: j.Lease, Outcome: backend.OutcomeFail, Reason: "card declined", Stacktrace: []string{"main.charge", "main.run"}})
	f.completed = add("send", `{"to":"ada"}`, nil)
	settle(backend.Settlement{Lease: lease().Lease, Outcome: backend.OutcomeComplete, Result: []byte(`{"sent":true}`)})
	node, err := q.AddFlow(ctx, queue.Flow{Name: "report", Children: []queue.Flow{{Name: "part-a"}, {Name: "part-b"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.parent, f.childDone, f.childWaiting = node.Job.ID, node.Children[0].Job.ID, node.Children[1].Job.ID
	settle(backend.Settlement{Lease: lease().Lease, Outcome: backend.OutcomeComplete, Result: []byte(`"a done"`)})
	f.waiting = add("welcome", `{"to":"grace"}`, nil)
	f.delayed = add("remind", `{}`, &queue.AddOptions{Delay: time.Hour, Dedup: queue.Dedup{Key: "remind-ada"}})
	if _, err := q.UpsertJobScheduler(ctx, "hourly", queue.Repeat{Every: time.Hour}, queue.JobTemplate{Name: "tick"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetPaused(ctx, "other", true); err != nil {
		t.Fatal(err)
	}
	return f
}

// boltFile makes a bbolt file filled by fill, closed.
func boltFile(t *testing.T) (string, fixture) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobs.db")
	store, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fill(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	return path, f
}

func TestOnABoltFile(t *testing.T) {
	path, f := boltFile(t)
	testCommands(t, []string{"--bolt", path}, f)
}

// servedFile opens a bbolt file filled by fill, in a directory of its own
// with a short path, and serves its endpoint on a Unix socket at
// sockName in that directory (none when sockName is empty). The test
// process holds the file open until the test ends.
func servedFile(t *testing.T, sockName string) (path string, f fixture, h http.Handler, url string) {
	t.Helper()
	_, path, f, h, url = servedStore(t, sockName)
	return path, f, h, url
}

// servedStore is servedFile that also returns the store the test process
// holds.
func servedStore(t *testing.T, sockName string) (store *bolt.Backend, path string, f fixture, h http.Handler, url string) {
	t.Helper()
	path = filepath.Join(shortdir.New(t), "jobs.db")
	store, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f = fill(t, store)
	h = admin.Handler(store, nil)
	if sockName != "" {
		srv, err := admin.ListenUnix(t.Context(), filepath.Join(filepath.Dir(path), sockName), h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		url = srv.URL()
	}
	return store, path, f, h, url
}

// TestThroughTheEndpoint runs the commands against a bbolt file that the
// test process holds open, through the endpoint it serves: on the socket
// next to the file, which drover finds by itself; on a socket named by
// --admin; and on loopback HTTP.
func TestThroughTheEndpoint(t *testing.T) {
	t.Run("locked file without an endpoint", func(t *testing.T) {
		path, _, _, _ := servedFile(t, "")
		drover(t, nil, "--bolt", path, "queues").want(t, exitUnavailable, nil,
			"open in another process", "admin.Handler", "--admin", admin.SocketPath(path))
	})

	t.Run("socket next to the file", func(t *testing.T) {
		path, f, _, _ := servedFile(t, "jobs.db.sock")
		testCommands(t, []string{"--bolt", path}, f)
	})

	t.Run("socket given by --admin", func(t *testing.T) {
		path, f, _, url := servedFile(t, "elsewhere.sock")
		drover(t, nil, "--bolt", path, "--admin", url, "queues").want(t, exitOK, []string{"mail"})
		testCommands(t, []string{"--admin", url}, f)
	})

	t.Run("loopback HTTP", func(t *testing.T) {
		_, f, h, _ := servedFile(t, "")
		srv := httptest.NewServer(h)
		defer srv.Close()
		testCommands(t, []string{"--admin", srv.URL}, f)
	})

	t.Run("an endpoint that is gone", func(t *testing.T) {
		drover(t, nil, "--admin", "unix://"+filepath.Join(shortdir.New(t), "gone.sock"), "queues").want(t, exitUnavailable, nil, "unavailable")
	})
}

func TestOnRedis(t *testing.T) {
	srv := redistest.Start(t, nil)
	client := srv.Client(t, nil)
	store, err := redis.New(client, &redis.Options{Prefix: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := fill(t, store)
	url := "redis://" + srv.Addr + "/0"
	testCommands(t, []string{"--redis", url, "--prefix", "cli"}, f)
	// REDIS_URL stands in for --redis.
	drover(t, []string{"REDIS_URL=" + url}, "--prefix", "cli", "queues").want(t, exitOK, []string{"mail", "other"})
	// Another prefix has no queue.
	if got := jsonOf[[]counts](t, drover(t, nil, "--redis", url, "--prefix", "nothing", "--json", "queues")); len(got) != 0 {
		t.Errorf("queues of an empty prefix: %v", got)
	}
}

func TestRedisUnreachable(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l := httptest.NewServer(nil)
	addr := l.Listener.Addr().String()
	l.Close()
	drover(t, nil, "--redis", "redis://"+addr+"/0", "queues").want(t, exitUnavailable, nil, "unavailable")
	drover(t, nil, "--redis", "mysql://nope", "queues").want(t, exitUsage, nil, "--redis")
}

// testCommands runs every command against the store that flags select,
// which holds the jobs of fill, and checks its output and exit status.
func testCommands(t *testing.T, flags []string, f fixture) {
	t.Helper()
	run := func(args ...string) result {
		t.Helper()
		return drover(t, nil, append(append([]string{}, flags...), args...)...)
	}

	// queues: a table, and JSON.
	run("queues").want(t, exitOK, []string{"QUEUE", "WAITING", "mail", "other", "yes"})
	qs := jsonOf[[]counts](t, run("--json", "queues"))
	if len(qs) != 2 || qs[0].Queue != "mail" || qs[0].Waiting != 2 || qs[0].Failed != 1 || qs[0].Completed != 2 ||
		qs[0].WaitingChildren != 1 || qs[0].Delayed != 2 || qs[1].Queue != "other" || !qs[1].Paused {
		t.Errorf("queues --json = %+v", qs)
	}

	// jobs: by state, paged.
	run("jobs", "mail", "--state", "failed").want(t, exitOK, []string{"ID", f.failed, "charge", "card declined"})
	waiting := jsonOf[[]job](t, run("jobs", "mail", "--json", "--limit", "1", "--offset", "1"))
	if len(waiting) != 1 || waiting[0].ID != f.waiting || compact(waiting[0].Data) != `{"to":"grace"}` {
		t.Errorf("second waiting job = %+v; want %s with its data", waiting, f.waiting)
	}

	// job: everything about one job, and its flow.
	run("job", "mail", f.failed).want(t, exitOK, []string{"charge", "failed", "card declined", "main.charge", "calling the bank", "50", "1 of 1 made"})
	v := jsonOf[jobView](t, run("--json", "job", "mail", f.parent))
	if v.Job.State != "waiting-children" || len(v.Children) != 2 || v.Children[0].ID != f.childDone ||
		v.Children[0].Outcome == nil || compact(v.Children[0].Outcome.Result) != `"a done"` ||
		v.Children[1].State != "waiting" || v.Children[1].Outcome != nil {
		t.Errorf("job --json of the flow parent = %+v", v)
	}
	child := jsonOf[jobView](t, run("--json", "job", "mail", f.childWaiting))
	if child.Parent == nil || child.Parent.ID != f.parent || child.Parent.State != "waiting-children" {
		t.Errorf("job --json of a child: parent %+v", child.Parent)
	}
	fj := jsonOf[jobView](t, run("--json", "job", "mail", f.failed))
	if len(fj.Logs) != 1 || compact(fj.Job.Progress) != "50" || len(fj.Job.Stacktrace) != 2 {
		t.Errorf("job --json of the failed job = %+v", fj)
	}

	// Not found, wrong state, bad arguments.
	run("job", "mail", "nope").want(t, exitNotFound, nil, "not found")
	run("retry", "mail", "nope").want(t, exitNotFound, nil, "not found")
	run("promote", "mail", f.waiting).want(t, exitRefused, nil, "waiting, not delayed")
	run("retry", "mail", f.waiting).want(t, exitRefused, nil, "waiting")
	run("jobs", "mail", "--state", "lost").want(t, exitUsage, nil, "--state", "jobs --help")
	run("jobs").want(t, exitUsage, nil, "accepts 1 arg")
	run("jobs", "mail", "--nosuchflag").want(t, exitUsage, nil, "unknown flag")
	run("job", "bad{name}", "1").want(t, exitUsage, nil, "brace")
	run("events", "mail", "--after", "yesterday").want(t, exitUsage, nil, "yesterday")
	run("events", "mail", "--after", "999999").want(t, exitRefused, nil, "ahead")

	// Acting on jobs, each undone after.
	run("promote", "mail", f.delayed).want(t, exitOK, []string{"promoted mail/" + f.delayed})
	run("retry", "mail", f.failed).want(t, exitOK, []string{"retried mail/" + f.failed})
	if done := jsonOf[map[string]string](t, run("--json", "cancel", "mail", f.failed, "--reason", "test")); done["done"] != "cancelled" {
		t.Errorf("cancel --json = %v", done)
	}
	run("job", "mail", f.failed).want(t, exitOK, []string{"failed", "job cancelled: test"})
	run("cancel", "mail", f.failed).want(t, exitRefused, nil, "failed")

	// Pause and resume, drain and clean, on a queue of their own.
	run("pause", "mail").want(t, exitOK, []string{"paused mail"})
	if c := jsonOf[[]counts](t, run("--json", "stats", "mail")); len(c) != 1 || !c[0].Paused {
		t.Errorf("stats after pause = %+v", c)
	}
	run("resume", "mail").want(t, exitOK, []string{"resumed mail"})
	if d := jsonOf[map[string]any](t, run("--json", "drain", "other")); d["removed"] != 0.0 {
		t.Errorf("drain of an empty queue = %v", d)
	}
	run("clean", "mail", "--state", "completed", "--grace", "1000h").want(t, exitOK, []string{"removed 0 completed jobs"})
	run("clean", "mail", "--state", "active").want(t, exitUsage, nil, "--state")

	// Limits, on a queue of their own.
	run("limits", "other").want(t, exitOK, []string{"concurrency", "none"})
	run("limits", "other", "--concurrency", "2", "--rate", "10", "--per", "1s").want(t, exitOK, []string{"concurrency", "2", "10 per 1s"})
	if l := jsonOf[map[string]any](t, run("--json", "limits", "other", "--hold", "1h")); l["concurrency"] != 2.0 || l["rate"] != 10.0 || l["held_until"] == nil {
		t.Errorf("limits --json after a hold = %v", l)
	}
	run("limits", "other", "--rate", "10").want(t, exitUsage, nil, "period")
	run("limits", "other", "--clear", "--rate", "1").want(t, exitUsage, nil, "--clear")
	run("limits", "other", "--hold", "-1s").want(t, exitUsage, nil, "hold")
	if l := jsonOf[map[string]any](t, run("--json", "limits", "other", "--clear")); l["concurrency"] != 0.0 || l["rate"] != 0.0 {
		t.Errorf("limits --clear = %v", l)
	}

	// Groups: on a queue of their own, where the store serves them.
	if g := run("groups", "other"); g.code == exitOK {
		run("groups", "other", "--concurrency", "1", "--pause", "acme").want(t, exitOK, []string{"GROUP", "acme", "yes"})
		gs := jsonOf[map[string]any](t, run("--json", "groups", "other", "--resume", "acme"))
		if groups, ok := gs["groups"].([]any); gs["concurrency"] != 1.0 || !ok || len(groups) != 0 {
			t.Errorf("groups --json after a resume = %v", gs)
		}
		run("groups", "other", "--pause", "a\tb").want(t, exitUsage, nil, "control character")
		run("groups", "other", "--clear").want(t, exitOK, []string{"GROUP"})
		run("jobs", "other", "--group", "acme").want(t, exitOK, []string{"ID", "NAME"})
		if jobs := jsonOf[[]job](t, run("--json", "jobs", "other", "--group", "acme", "--state", "active")); len(jobs) != 0 {
			t.Errorf("jobs --group of a group with none = %v", jobs)
		}
		run("jobs", "other", "--group", "acme", "--state", "failed").want(t, exitUsage, nil, "not kept by group")
		run("jobs", "other", "--group", "").want(t, exitUsage, nil, "group name is empty")
	} else {
		g.want(t, exitError, nil, "unsupported")
	}

	// Deduplication keys: who holds one, and letting go of it.
	run("dedup", "mail", "remind-ada").want(t, exitOK, []string{"job", f.delayed, "until finished"})
	if h := jsonOf[map[string]any](t, run("--json", "dedup", "mail", "remind-ada")); h["job"] != f.delayed || h["deferred"] != false {
		t.Errorf("dedup --json = %v", h)
	}
	run("dedup", "mail", "nobody").want(t, exitNotFound, nil, "no job holds")
	run("dedup", "mail", "bad\tkey").want(t, exitUsage, nil, "control character")
	run("dedup", "mail", "remind-ada", "--release").want(t, exitOK, []string{"released"})
	if r := jsonOf[map[string]any](t, run("--json", "dedup", "mail", "remind-ada", "--release")); r["released"] != false {
		t.Errorf("a second release --json = %v", r)
	}
	run("dedup", "mail", "remind-ada").want(t, exitNotFound, nil, "no job holds")

	// Schedulers.
	run("schedulers", "list", "mail").want(t, exitOK, []string{"hourly", "every 1h0m0s", "tick"})
	s := jsonOf[scheduler](t, run("--json", "schedulers", "show", "mail", "hourly"))
	if s.ID != "hourly" || s.Every != "1h0m0s" || s.Name != "tick" || s.Next.IsZero() {
		t.Errorf("schedulers show --json = %+v", s)
	}
	run("schedulers", "show", "mail", "nope").want(t, exitNotFound, nil, "not found")
	iteration := backend.IterationID("hourly", s.Next.Time)
	run("remove", "mail", iteration).want(t, exitRefused, nil, "scheduler")

	// Events: the whole log, then from a cursor, as lines and as JSON.
	all := strings.Split(strings.TrimSpace(run("events", "mail").stdout), "\n")
	if len(all) < 10 || !strings.HasPrefix(all[0], "1\t") || !strings.Contains(all[0], "added") {
		t.Fatalf("events: %d lines, first %q", len(all), all[0])
	}
	for i, l := range all {
		if id := strings.SplitN(l, "\t", 2)[0]; id != strconv.Itoa(i+1) {
			t.Fatalf("event line %d has ID %s (a gap or disorder)", i, id)
		}
	}
	tail := run("--json", "events", "mail", "--after", strconv.Itoa(len(all)-2))
	lines := strings.Split(strings.TrimSpace(tail.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("events --after: %d lines, want 2:\n%s", len(lines), tail.stdout)
	}
	var last event
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil || last.ID != uint64(len(all)) {
		t.Errorf("last event line %q: %v", lines[1], err)
	}

	// stats --watch: one line per round.
	w := run("--json", "stats", "--watch", "--interval", "10ms", "--count", "3")
	rounds := strings.Split(strings.TrimSpace(w.stdout), "\n")
	if w.code != exitOK || len(rounds) != 3 {
		t.Fatalf("stats --watch --count 3: exit %d, %d lines:\n%s%s", w.code, len(rounds), w.stdout, w.stderr)
	}
	var round struct {
		Queues []counts `json:"queues"`
	}
	if err := json.Unmarshal([]byte(rounds[2]), &round); err != nil || len(round.Queues) != 2 {
		t.Errorf("a round of stats --watch: %q, %v", rounds[2], err)
	} else if r := round.Queues[0].Rates; r == nil || r.Added != 0 || r.Seconds <= 0 {
		t.Errorf("rates of a round of stats --watch with no change: %+v", r)
	}
	if strings.Contains(rounds[0], `"rates"`) {
		t.Errorf("the first round of stats --watch has rates: %s", rounds[0])
	}
	run("stats", "mail", "--watch", "--interval", "10ms", "--count", "2").want(t, exitOK, []string{"QUEUE", "mail", "ADDED/S", "COMPLETED/S", "FAILED/S", "0.0"})
	run("stats", "--watch", "--interval", "0s").want(t, exitUsage, nil, "--interval")

	// In bulk: the completed jobs back to waiting, one at a time, then
	// every delayed job now (the one left: the scheduler's next run).
	run("retry-jobs", "mail", "--state", "completed", "--limit", "1").want(t, exitOK, []string{"retried 1 jobs of mail"})
	if r := jsonOf[map[string]any](t, run("--json", "retry-jobs", "mail", "--state", "completed")); r["jobs"] != 1.0 {
		t.Errorf("retry-jobs --json = %v; want the other completed job", r)
	}
	run("retry-jobs", "mail", "--state", "waiting").want(t, exitUsage, nil, "--state")
	run("promote-jobs", "mail", "--limit", "-1").want(t, exitUsage, nil, "--limit")
	run("promote-jobs", "mail").want(t, exitOK, []string{"promoted 1 jobs of mail"})
	if c := jsonOf[[]counts](t, run("--json", "stats", "mail")); len(c) != 1 || c[0].Delayed != 0 || c[0].Completed != 0 {
		t.Errorf("stats after the bulk calls = %+v", c)
	}
}

func TestDemoThenInspectItsFile(t *testing.T) {
	dir := t.TempDir()
	drover(t, nil, "demo", "--dir", dir, "--single", "5", "--bulk", "40", "--workers", "2", "--concurrency", "4").
		want(t, exitOK, []string{"done in", "started before every other job"})
	path := filepath.Join(dir, "demo.db")
	// 5 + 40 + 10 delayed + 5 alerts complete; the 5 card charges fail.
	c := jsonOf[[]counts](t, drover(t, nil, "--bolt", path, "--json", "queues"))
	if len(c) != 1 || c[0].Queue != "demo" || c[0].Completed != 60 || c[0].Failed != 5 || c[0].Waiting != 0 {
		t.Errorf("queues after the demo = %+v", c)
	}
	perType := map[string]int{}
	for l := range strings.Lines(drover(t, nil, "--bolt", path, "--json", "events", "demo").stdout) {
		var ev event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event line %q: %v", l, err)
		}
		perType[ev.Type]++
	}
	if perType["added"] != 65 || perType["completed"] != 60 || perType["failed"] != 5 {
		t.Errorf("events per type = %v; want 65 added, 60 completed, 5 failed", perType)
	}
}

func TestAMissingFileIsNotFoundAndCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.db")
	drover(t, nil, "--bolt", path, "queues").want(t, exitNotFound, nil, "no store file", path)
	drover(t, nil, "--bolt", path, "events", "q").want(t, exitNotFound, nil, "no store file")
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("directory after: %v, %v; want it empty", entries, err)
	}
}

func TestUsage(t *testing.T) {
	path, _ := boltFile(t)
	drover(t, nil).want(t, exitUsage, nil, "Usage:", "no command given")
	drover(t, nil, "frobnicate").want(t, exitUsage, nil, `unknown command "frobnicate"`)
	drover(t, nil, "--help").want(t, exitOK, []string{"Usage:", "Exit status:", "queues", "schedulers"})
	drover(t, nil, "jobs", "--help").want(t, exitOK, []string{"--state", "--offset", "--limit"})
	drover(t, nil, "queues").want(t, exitUsage, nil, "no store given")
	drover(t, nil, "--bolt", path, "--redis", "redis://localhost:1", "queues").want(t, exitUsage, nil, "choose one")
	drover(t, nil, "--bolt", path, "--nosuchflag", "queues").want(t, exitUsage, nil, "unknown flag")
	drover(t, nil, "--admin", "ftp://x", "queues").want(t, exitUsage, nil, "--admin")
	drover(t, nil, "--bolt", path, "stats", "--count", "-1").want(t, exitUsage, nil, "--count")
}

func TestExitStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{nil, exitOK},
		{errors.New("disk full"), exitError},
		{usagef("bad"), exitUsage},
		{fmt.Errorf("x: %w", backend.ErrNotFound), exitNotFound},
		{backend.Invalid("Queue", "bad"), exitUsage},
		{fmt.Errorf("x: %w", backend.ErrLocked), exitUnavailable},
		{fmt.Errorf("x: %w", backend.ErrDenied), exitUnavailable},
		{&backend.WrongStateError{State: backend.StateActive}, exitRefused},
		{fmt.Errorf("x: %w", backend.ErrJobActive), exitRefused},
		{&backend.EventsTrimmedError{}, exitRefused},
		{fmt.Errorf("x: %w", backend.ErrCorrupt), exitError},
	} {
		if code, _ := exitStatus(c.err); code != c.code {
			t.Errorf("exitStatus(%v) = %d, want %d", c.err, code, c.code)
		}
	}
	if _, msg := exitStatus(errors.New("disk full")); msg != "drover: disk full" {
		t.Errorf("message %q, want the error named as drover's", msg)
	}
}

// TestEventsFollow follows a queue through the endpoint while the test
// process publishes to it, and stops on an interrupt with status 0.
func TestEventsFollow(t *testing.T) {
	_, _, _, url := servedFile(t, "f.sock")
	lines := strings.Split(strings.TrimSpace(drover(t, nil, "--admin", url, "--json", "events", "mail").stdout), "\n")
	last := jsonOf[event](t, result{stdout: lines[len(lines)-1]})
	after := last.ID

	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	cmd, out, stderr := start(t, ctx, "--admin", url, "--json", "events", "mail", "--follow", "--after", strconv.FormatUint(after, 10))
	// The cursor is fixed by --after: the event may be published before
	// drover reads, and it is printed all the same.
	c, err := admin.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Publish(ctx, "mail", &backend.PublishRequest{Name: "deployed", Data: []byte(`{"v":2}`)}); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the followed events: %v; stderr: %s", err, stderr.String())
	}
	var ev event
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.ID != after+1 || ev.Type != "published" || ev.Name != "deployed" {
		t.Fatalf("followed event %q (%v); want the published one, ID %d", line, err, after+1)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("drover events --follow after an interrupt: %v; stderr: %s", err, stderr.String())
	}
}

// TestDashboard serves the dashboard of a bbolt file, reads its pages
// while a page holds the event stream open, and stops on an interrupt
// with status 0; read-only, it has no action.
func TestDashboard(t *testing.T) {
	path, f := boltFile(t)
	for _, readOnly := range []bool{false, true} {
		args := []string{"--bolt", path, "dashboard", "--listen", "127.0.0.1:0"}
		if readOnly {
			args = append(args, "--read-only")
		}
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		cmd, out, stderr := start(t, ctx, args...)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("reading where the dashboard is: %v; stderr: %s", err, stderr.String())
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "dashboard" || !strings.HasPrefix(fields[2], "http://127.0.0.1:") {
			t.Fatalf("first line %q; want the dashboard's URL", line)
		}
		url := fields[2]
		get := func(path string) string {
			t.Helper()
			res, err := http.Get(url + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			if _, err := b.ReadFrom(res.Body); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d, %v\n%s", path, res.StatusCode, err, b.String())
			}
			return b.String()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := http.DefaultClient.Do(req)
		if err != nil || stream.StatusCode != http.StatusOK {
			t.Fatalf("the event stream: %v, %v", stream, err)
		}
		defer stream.Body.Close()
		if !strings.Contains(get(""), "mail") {
			t.Error("the overview lacks queue mail")
		}
		page := get("queues/mail/jobs/" + f.failed)
		if !strings.Contains(page, "card declined") || strings.Contains(page, `method="post"`) != !readOnly {
			t.Errorf("the failed job's page (read-only %v):\n%s", readOnly, page)
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("drover dashboard after an interrupt: %v; stderr: %s", err, stderr.String())
		}
	}
	drover(t, nil, "--bolt", path, "dashboard", "--listen", "nowhere").want(t, exitUsage, nil, "--listen")
	drover(t, nil, "dashboard", "--help").want(t, exitOK, []string{"--listen", "--read-only", "127.0.0.1:8080", "no login"})
}
