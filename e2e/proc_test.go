package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run this test binary again as worker, scheduler and event
// reader processes. TestMain picks the role from roleEnv and reads its
// arguments, as JSON, from argsEnv.
const (
	roleEnv = "DROVER_E2E_ROLE"
	argsEnv = "DROVER_E2E_ARGS"
)

// deadline bounds, in real time, every wait for something that should
// happen soon. It is generous for slow -race runs; no test asserts how
// quickly anything happens.
const deadline = 30 * time.Second

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		var a procArgs
		if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &a); err != nil {
			fmt.Fprintln(os.Stderr, "bad arguments:", err)
			os.Exit(2)
		}
		os.Exit(runRole(role, &a))
	}
	os.Exit(m.Run())
}

// procArgs are the arguments of a child process.
type procArgs struct {
	// Index numbers the process among its siblings.
	Index int
	// Path is the bbolt file; Addr and Prefix name a Redis store, on a
	// Cluster (of which Addr is a node) if Cluster is set.
	Path    string
	Addr    string
	Cluster bool
	Prefix  string
	Queue   string

	// Worker settings.
	Concurrency int
	LeaseTTL    time.Duration
	LeaseWait   time.Duration
	// MaxStalled is the worker's MaxStalled; 0 keeps its default.
	MaxStalled int
	// Block makes the handler block, before it returns, on each first run
	// (StalledCount 0) of a job of this name; "*" blocks on every job.
	Block string
	// Sleep is how long each handler works, and how long a producer
	// pauses between Add calls; SleepRandom adds up to this much more to
	// a handler's work, at random.
	Sleep       time.Duration
	SleepRandom time.Duration
	// Flaky names jobs whose first attempt fails.
	Flaky string
	// Barrier, when set, is a directory: a handler waits, before it
	// returns, until the file named by its job ID up to the first "-"
	// exists there, for up to a minute.
	Barrier string

	// Event reader settings: start FromStart when After is 0, else
	// FromID(After); stop after Count events, or once Until is read.
	After uint64
	Count int
	Until uint64
}

// line is one line a child process printed, or the end of its output.
type line struct {
	From int
	Text string
	EOF  bool
}

// proc is a child process.
type proc struct {
	t     *testing.T
	index int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has exited
	quit  chan struct{} // closed when the test is over
	err   error         // its exit status, once done is closed

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startWorkers starts worker processes with the indexes 1 to n, each with
// args otherwise, and waits until every one is ready.
func startWorkers(t *testing.T, lines chan line, n int, args procArgs) map[int]*proc {
	t.Helper()
	procs := map[int]*proc{}
	for i := 1; i <= n; i++ {
		args.Index = i
		procs[i] = startProc(t, lines, "worker", args)
	}
	for range procs {
		expect(t, lines, "ready")
	}
	return procs
}

// startProc runs this test binary as a child in role with args a. Each line
// it prints goes to out. The child is killed when the test ends, and its
// standard error is logged if the test failed.
func startProc(t *testing.T, out chan<- line, role string, a procArgs) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, index: a.Index, done: make(chan struct{}), quit: make(chan struct{})}
	p.cmd = exec.Command(exe, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), roleEnv+"="+role, argsEnv+"="+string(js))
	p.cmd.Stderr = (*lockedWriter)(p)
	// A pipe of our own, so that Wait does not wait for the reader.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = w
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			select {
			case out <- line{From: a.Index, Text: sc.Text()}:
			case <-p.quit:
				return
			}
		}
		select {
		case out <- line{From: a.Index, EOF: true}:
		case <-p.quit:
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		close(p.quit)
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.stderr.Len() > 0 {
				t.Logf("%s process %d wrote:\n%s", role, a.Index, p.stderr.String())
			}
		}
	})
	return p
}

// lockedWriter collects a child's standard error.
type lockedWriter proc

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.Write(b)
}

// kill ends the process with SIGKILL and waits until it has exited.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(deadline):
		p.t.Errorf("process %d did not exit after SIGKILL", p.index)
	}
}

// send writes one line to the process's standard input.
func (p *proc) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, s+"\n"); err != nil {
		p.t.Fatalf("write to process %d: %v", p.index, err)
	}
}

// stop closes the process's standard input, which asks it to stop, and
// waits until it has exited; a failed exit fails the test.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.stdin.Close()
	p.wait()
}

// wait waits until the process has exited; a failed exit fails the test.
func (p *proc) wait() {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(deadline):
		p.t.Fatalf("process %d did not exit", p.index)
	}
	if p.err != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.t.Fatalf("process %d: %v\n%s", p.index, p.err, p.stderr.String())
	}
}

// next returns the next line from in that is not the end of a process's
// output, failing the test if none comes before the deadline.
func next(t *testing.T, in <-chan line, what string) line {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case l := <-in:
			if l.EOF {
				continue
			}
			return l
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// expect returns the fields of the next line of in, which must start with
// word.
func expect(t *testing.T, in <-chan line, word string) (int, []string) {
	t.Helper()
	l := next(t, in, fmt.Sprintf("a %q line", word))
	f := strings.Fields(l.Text)
	if len(f) == 0 || f[0] != word {
		t.Fatalf("process %d printed %q; want a %q line", l.From, l.Text, word)
	}
	return l.From, f[1:]
}

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func atoi64(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
