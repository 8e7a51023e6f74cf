// Command drover runs a demo of the drover job queue and inspects queues in
// a bbolt file or on Redis.
//
//	drover demo                     run workers on a bbolt file in a temp dir
//	drover counts -store S -queue Q print the number of jobs in each state
//	drover events -store S -queue Q tail a queue's event stream
//
// A store S is a bbolt file path, or a Redis URL (redis://host:port/db).
//
// drover exits 2 when it is called wrongly (no command, an unknown command
// or a bad flag), after printing its usage, and 1 when a command fails.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code, msg := exitStatus(err)
	if msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}

// exitStatus returns the exit code for run's error, and the message to
// print for it, if any.
func exitStatus(err error) (code int, msg string) {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0, ""
	}
	if u, ok := errors.AsType[*usageError](err); ok {
		// The usage, and the flag package's complaint, are printed.
		if u.msg == "" {
			return 2, ""
		}
		return 2, "drover: " + u.msg
	}
	// drover's own errors name themselves already.
	msg = err.Error()
	if !strings.HasPrefix(msg, "drover:") {
		msg = "drover: " + msg
	}
	return 1, msg
}

// usageError is a wrong call: the usage has been printed, and drover
// exits 2. msg says what was wrong when the usage does not.
type usageError struct{ msg string }

func (e *usageError) Error() string { return cmp.Or(e.msg, "wrong usage") }

// parseFlags parses a command's flags; a bad flag is a usage error (the
// flag package has printed it and the usage).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &usageError{}
}

const usage = `usage: drover <command> [flags]

commands:
  demo     add jobs to a bbolt queue in a temp dir and run workers on them
  counts   print the number of jobs in each state of a queue
  events   tail the event stream of a queue

Run "drover <command> -h" for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{}
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "counts":
		return runCounts(ctx, args[1:], stdout, stderr)
	case "events":
		return runEvents(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &usageError{msg: fmt.Sprintf("unknown command %q", args[0])}
}
