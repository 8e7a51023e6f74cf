// Command drover operates drover's job queues from a terminal: it lists
// queues and jobs, shows a job with its flow, retries, promotes, cancels
// and removes jobs, cleans, drains, pauses and resumes queues, manages
// job schedulers, tails event logs and watches counts live; `drover
// dashboard` serves the web dashboard of package dashboard; and `drover
// demo` runs workers on a queue in a temporary bbolt file.
//
// The store is a bbolt file (--bolt PATH), a Redis server (--redis URL,
// or the REDIS_URL environment variable), or the admin endpoint of a
// running application (--admin URL; see package admin). A bbolt file
// that another process holds is reached through that process's endpoint:
// the one --admin names, or a socket at PATH+".sock" if there is one.
//
// Every command prints a table for people, or with --json what scripts
// parse, and exits with a status that says how it went (see exitCodes).
//
// The commands are built with github.com/spf13/cobra, the most used
// command library in Go: it gives every command its generated help,
// POSIX flags, suggestions for mistyped commands, and shell completion
// (`drover completion bash|zsh|fish|powershell`).
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/droverhq/drover/backend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK          = 0 // done
	exitError       = 1 // failed for another reason
	exitUsage       = 2 // called wrongly: an unknown command, a bad flag or argument, input the store refused as invalid
	exitNotFound    = 3 // no such job, scheduler or store file
	exitUnavailable = 4 // the store cannot be used: locked by another process, unreachable, or refusing the credentials
	exitRefused     = 5 // the job (or event cursor) is not in a state the command accepts
)

// exitCodes is the table of exit codes in the help and the README.
const exitCodes = `Exit status:
  0  done
  1  failed for another reason
  2  called wrongly: unknown command, bad flag or argument, invalid input
  3  not found: no such job or scheduler, no store file at the path
  4  store unavailable: bbolt file locked by another process (and no admin
     endpoint), Redis or the endpoint unreachable, credentials refused
  5  refused: the job is not in a state the command accepts (promoting a
     job that is not delayed, removing an active one or a scheduler's next
     run), or an event cursor outside the log`

// run runs drover with args and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, o := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	u, ok := errors.AsType[*usageError](err)
	switch {
	case ok && u.cmd == "" && cmd != nil:
		u.cmd = cmd.CommandPath()
	case err != nil && !ok && !o.started:
		// cobra's own: an unknown command, a bad flag, a wrong number
		// of arguments.
		err = &usageError{err: err, cmd: cmd.CommandPath()}
	}
	code, msg := exitStatus(err)
	if msg != "" {
		fmt.Fprintln(stderr, msg)
	}
	return code
}

// exitStatus returns the exit status for a command's error, and the
// message to print for it, if any.
func exitStatus(err error) (code int, msg string) {
	if err == nil {
		return exitOK, ""
	}
	msg = err.Error()
	// drover's own errors name themselves already.
	if !strings.HasPrefix(msg, "drover") {
		msg = "drover: " + msg
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		return exitUsage, msg
	}
	switch {
	// First: a socket that is not there is an endpoint unreachable, not
	// a file not found.
	case errors.Is(err, backend.ErrLocked), errors.Is(err, backend.ErrUnavailable), errors.Is(err, backend.ErrDenied):
		return exitUnavailable, msg
	case errors.Is(err, backend.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return exitNotFound, msg
	case errors.Is(err, backend.ErrInvalid):
		return exitUsage, msg
	case errors.Is(err, backend.ErrWrongState), errors.Is(err, backend.ErrJobActive),
		errors.Is(err, backend.ErrSchedulerIteration), errors.Is(err, backend.ErrEventsTrimmed),
		errors.Is(err, backend.ErrEventsAhead):
		return exitRefused, msg
	}
	return exitError, msg
}

// usageError is a wrong call of a command; cmd is the command's path,
// for the hint to its help.
type usageError struct {
	err error
	cmd string
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v (see %s --help)", e.err, cmp.Or(e.cmd, "drover"))
}

func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}
