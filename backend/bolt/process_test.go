package bolt

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/droverhq/drover/backend"
)

// The tests below run this test binary again as a helper process, chosen
// by an environment variable.
const deadlineReal = 20 * time.Second

const helperEnv = "DROVER_BOLT_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "open":
		helperOpen()
	case "add":
		helperAdd()
	case "report":
		helperReport()
	case "txadd":
		helperTxAdd()
	}
	os.Exit(0)
}

func helper(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	return cmd
}

// helperOpen tries to open the file named by the first argument with a
// short lock timeout and prints the outcome.
func helperOpen() {
	path := os.Args[len(os.Args)-1]
	b, err := Open(path, &Options{LockTimeout: 100 * time.Millisecond})
	switch {
	case errors.Is(err, backend.ErrLocked):
		fmt.Println("locked")
	case err != nil:
		fmt.Println("error:", err)
	default:
		b.Close()
		fmt.Println("opened")
	}
}

func TestSecondProcessGetsErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	b, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	out, err := helper(t, "open", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "locked" {
		t.Fatalf("second process: %s", got)
	}
	b.Close()
	out, err = helper(t, "open", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "opened" {
		t.Fatalf("after close: %s", got)
	}
}

func TestOpenInSameProcessIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.db")
	b, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Open(path, &Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, backend.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

// helperAdd adds jobs to the file named by the last argument from several
// goroutines, single and in bulks, and prints each accepted ID on a line:
// "single <id>" or "bulk <n> <id>,<id>,…", until it is killed.
func helperAdd() {
	path := os.Args[len(os.Args)-1]
	b, err := Open(path, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				n := 1
				if (i+w)%3 == 0 {
					n = 50
				}
				jobs := make([]backend.NewJob, n)
				for k := range jobs {
					jobs[k] = backend.NewJob{Name: "crash", Data: []byte(strconv.Itoa(k))}
				}
				res, err := b.Add(ctx, "crash", &backend.AddRequest{Jobs: jobs})
				if err != nil {
					fmt.Fprintln(os.Stderr, "add:", err)
					os.Exit(1)
				}
				ids := make([]string, len(res.Jobs))
				for k, a := range res.Jobs {
					ids[k] = a.ID
				}
				mu.Lock()
				if n == 1 {
					fmt.Fprintln(out, "single", ids[0])
				} else {
					fmt.Fprintln(out, "bulk", n, strings.Join(ids, ","))
				}
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestCrashKeepsEveryAcceptedJob(t *testing.T) {
	if testing.Short() {
		t.Skip("kills helper processes")
	}
	for round := range 3 {
		path := filepath.Join(t.TempDir(), "drover.db")
		cmd := helper(t, "add", path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read until a random number of acknowledgements, then kill.
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		killAt := 50 + rand.IntN(400)
		var acked []string
		for l := range lines {
			acked = append(acked, l)
			if len(acked) == killAt {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = cmd.Wait()
		if len(acked) < killAt {
			t.Fatalf("round %d: helper ended after %d lines", round, len(acked))
		}

		b, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range acked {
			f := strings.Fields(l)
			var ids []string
			switch f[0] {
			case "single":
				ids = f[1:2]
			case "bulk":
				ids = strings.Split(f[2], ",")
			default:
				t.Fatalf("helper said %q", l)
			}
			for _, id := range ids {
				if _, err := b.Job(ctx, "crash", id); err != nil {
					t.Fatalf("round %d: acknowledged job %s lost: %v", round, id, err)
				}
			}
		}
		// No half of a bulk: jobs are numbered in commit order, so every
		// bulk is a run of 50 consecutive IDs that is there whole or not
		// at all; check through the data, which numbers a bulk's jobs.
		res, err := b.Jobs(ctx, "crash", &backend.JobsRequest{State: backend.StateWaiting, Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		c := counts(t, b, "crash")
		if len(res.Jobs) != c.Waiting {
			t.Fatalf("listed %d of %d", len(res.Jobs), c.Waiting)
		}
		for i := 0; i < len(res.Jobs); {
			if string(res.Jobs[i].Data) != "0" {
				t.Fatalf("round %d: job %s starts nothing (data %q)", round, res.Jobs[i].ID, res.Jobs[i].Data)
			}
			n := 1
			for i+n < len(res.Jobs) && string(res.Jobs[i+n].Data) == strconv.Itoa(n) {
				n++
			}
			if n != 1 && n != 50 {
				t.Fatalf("round %d: a bulk starting at job %s has %d of 50 jobs", round, res.Jobs[i].ID, n)
			}
			i += n
		}
		checkInvariants(t, b)
		b.Close()
	}
}
