// Package drovertest helps test programs that use drover: a fake clock, a
// store that needs no server, a runner that runs jobs one at a time on the
// test's goroutine, and assertions about the jobs a program added.
//
// # Basics
//
// New gives a test an Env: a fake Clock and an empty store (a bbolt file in
// the test's temporary directory, without fsync, removed when the test
// ends). Queues and workers made by the Env share its clock:
//
//	env := drovertest.New(t, nil)
//	q := env.Queue("emails")
//	w := env.Worker("emails", router.Handler(), nil)
//
// The code under test adds jobs to q as it would in production. The test
// then checks what was added (RequireAdded, RequireNotAdded, Added), and
// runs the jobs with the worker's real handler and middleware: RunNext runs
// the next job, moving the clock on to it when it is not due yet, so that
// delays, retry backoffs and job schedulers take no real time; RunReady
// runs the jobs that are due; RunFor runs all that fall due within a span
// of clock time. Each returns the jobs it ran, as their attempts left
// them. No goroutine of the worker runs between these calls, so the test
// need not wait or poll.
//
// For tests of code that runs workers itself, WaitEvent waits, up to a real
// deadline, for an event in a queue's log.
//
// # Caveats
//
// Jobs run as under a started worker, timeouts included, but the clock
// moves only between jobs: a handler that waits for its job's timeout
// needs the test to move the clock meanwhile (Clock.AwaitTimer tells when
// the timer is armed). A test that uses its own store (Options.Store), such
// as a Redis store, must give that store the Env's clock.
package drovertest
