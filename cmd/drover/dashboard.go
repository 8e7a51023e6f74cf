package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/droverhq/drover/dashboard"
)

func newDashboardCmd(o *options) *cobra.Command {
	var (
		listen   string
		readOnly bool
	)
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard of the store",
		Long: `Serve the web dashboard of the store over HTTP until interrupted: its
queues with their counts and throughput, their jobs, job schedulers and
events, live; and buttons to retry, promote, cancel and remove jobs, retry
and clean in bulk, pause and resume queues and remove schedulers.

The dashboard has no login: whoever reaches it sees every job's data and
can act on it. It listens on loopback by default; to reach it from another
machine, use an SSH tunnel or a proxy that authenticates rather than
another --listen address. --read-only turns every action off.`,
		Example: `  drover --bolt jobs.db dashboard
  drover --redis redis://localhost:6379 dashboard --listen 127.0.0.1:9090 --read-only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withStore(func(s store) error {
				return o.serveDashboard(cmd.Context(), s, listen, readOnly)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "`ADDRESS` to serve on, host:port")
	f.BoolVar(&readOnly, "read-only", false, "show the queues without any button that changes them")
	return cmd
}

// serveDashboard serves the dashboard of s on listen until ctx ends.
func (o *options) serveDashboard(ctx context.Context, s store, listen string, readOnly bool) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return &usageError{err: fmt.Errorf("--listen: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(o.stderr, nil))
	srv := &http.Server{
		Handler:           dashboard.Handler(s, &dashboard.Options{ReadOnly: readOnly, Logger: logger}),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with ctx, so that an interrupt also ends the
		// event streams that pages hold open.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if ip, _, _ := net.SplitHostPort(l.Addr().String()); !net.ParseIP(ip).IsLoopback() {
		logger.Warn("the dashboard has no login and listens beyond loopback: anyone who reaches it can act on every job", "listen", l.Addr().String())
	}
	mode := ""
	if readOnly {
		mode = "read-only; "
	}
	fmt.Fprintf(o.stdout, "dashboard at http://%s/ (%sCtrl-C to stop)\n", l.Addr(), mode)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
