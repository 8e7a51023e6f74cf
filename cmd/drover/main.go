// Command drover runs a demo of the drover job queue and inspects queues in
// a bbolt file or on Redis.
//
//	drover demo                     run workers on a bbolt file in a temp dir
//	drover counts -store S -queue Q print the number of jobs in each state
//	drover events -store S -queue Q tail a queue's event stream
//
// A store S is a bbolt file path, or a Redis URL (redis://host:port/db).
package main

import (
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
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		// drover's own errors name themselves already.
		msg := err.Error()
		if !strings.HasPrefix(msg, "drover:") {
			msg = "drover: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
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
		return flag.ErrHelp
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
	return fmt.Errorf("unknown command %q", args[0])
}
