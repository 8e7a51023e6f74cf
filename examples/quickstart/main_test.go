package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the program's main instead of the tests when the test
// binary is started as the program (see TestCtrlCStopsTheProgram).
func TestMain(m *testing.M) {
	if os.Getenv("QUICKSTART_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// untilLine is a writer that calls found once the text written holds line.
type untilLine struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	line  string
	found func()
}

func (u *untilLine) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.buf.Write(p)
	if strings.Contains(u.buf.String(), u.line) {
		u.found()
	}
	return len(p), nil
}

func TestRunSendsTheWelcomeThenStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &untilLine{line: "welcome email sent to ada@example.com\n", found: cancel}
	if err := run(ctx, filepath.Join(t.TempDir(), "jobs.db"), out); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "working; press Ctrl-C to stop\nwelcome email sent to ada@example.com\n"
	if got := out.buf.String(); got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

func TestCtrlCStopsTheProgram(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "QUICKSTART_RUN_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader sees the welcome, then reads on until the program exits
	// and its output ends; only then may Wait close the pipe.
	sent, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if lines.Text() == "welcome email sent to ada@example.com" {
				close(sent)
			}
		}
	}()
	stopped := false
	select {
	case <-sent:
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ended:
			stopped = true
		case <-time.After(20 * time.Second):
			t.Error("the program did not stop after Ctrl-C")
		}
	case <-ended:
		t.Errorf("the program ended without sending the welcome; stderr:\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Errorf("the program sent no welcome; stderr:\n%s", stderr.String())
	}
	if !stopped {
		_ = cmd.Process.Kill()
		<-ended
		_ = cmd.Wait()
		t.FailNow()
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after Ctrl-C the program ended with %v; stderr:\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(cmd.Dir, "jobs.db")); err != nil {
		t.Errorf("the program left no store: %v", err)
	}
}

// The README prints this program whole, so that its first program is one
// that compiles and runs.
func TestREADMEPrintsTheProgram(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append(append([]byte("```go\n"), src...), "```\n"...)) {
		t.Error("README.md does not show examples/quickstart/main.go as it is; copy the file into its Quickstart")
	}
}
