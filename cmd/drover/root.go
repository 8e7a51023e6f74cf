package main

import (
	"io"

	"github.com/spf13/cobra"
)

// options are the flags every command takes.
type options struct {
	redis  string
	prefix string
	bolt   string
	admin  string
	json   bool

	stdout, stderr io.Writer
	// started is set when a command's RunE begins.
	started bool
}

const rootLong = `drover operates drover's job queues: it lists queues and jobs, shows a
job with its flow, acts on jobs and queues, manages job schedulers, tails
event logs, watches counts and serves a web dashboard.

Choose the store with one of:
  --bolt PATH    a bbolt file; it must exist. If another process has it
                 open (bbolt lets one process at a time), drover uses that
                 process's admin endpoint: --admin URL, or the socket
                 PATH.sock when it exists (see package admin).
  --redis URL    a Redis server, redis://[user:pass@]host:port/db or
                 rediss://…; the REDIS_URL environment variable when no
                 store flag is given. --prefix is the stores' key prefix.
  --admin URL    an application's admin endpoint: unix:///path/to/sock or
                 http://127.0.0.1:PORT.

Tables are for people; --json prints JSON for scripts (one value, or one
per line for events and stats --watch).

` + exitCodes

// newRoot returns the drover command and its subcommands.
func newRoot(stdout, stderr io.Writer) (*cobra.Command, *options) {
	o := &options{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "drover",
		Short:         "Operate drover job queues in a bbolt file or on Redis",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		// No command: the help, on stderr, and the usage status.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return usagef("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&o.bolt, "bolt", "", "bbolt file `PATH` (must exist)")
	pf.StringVar(&o.redis, "redis", "", "Redis `URL` (default $REDIS_URL)")
	pf.StringVar(&o.prefix, "prefix", "drover", "Redis key prefix")
	pf.StringVar(&o.admin, "admin", "", "admin endpoint `URL`: unix:///path/to/sock or http://127.0.0.1:PORT")
	pf.BoolVar(&o.json, "json", false, "print JSON instead of tables")
	root.AddCommand(
		newDemoCmd(o),
		newQueuesCmd(o),
		newStatsCmd(o),
		newJobsCmd(o),
		newJobCmd(o),
		newRetryCmd(o),
		newPromoteCmd(o),
		newRetryJobsCmd(o),
		newPromoteJobsCmd(o),
		newRemoveCmd(o),
		newCancelCmd(o),
		newCleanCmd(o),
		newDrainCmd(o),
		newObliterateCmd(o),
		newPauseCmd(o, true),
		newPauseCmd(o, false),
		newSchedulersCmd(o),
		newEventsCmd(o),
		newLimitsCmd(o),
		newDedupCmd(o),
		newGroupsCmd(o),
		newDashboardCmd(o),
	)
	// Whatever fails before a command runs (an unknown command, a bad
	// flag, a wrong number of arguments) is a usage error.
	forEach(root, func(c *cobra.Command) {
		if c.RunE != nil {
			runE := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				o.started = true
				return runE(cmd, args)
			}
		}
	})
	return root, o
}

func forEach(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		forEach(sub, fn)
	}
}
