// Package queue is drover's user API: queues that take jobs, workers that
// run them, job schedulers, flows and the event stream.
//
// A Queue is a handle on one named queue in a store (the embedded bbolt
// store in backend/bolt, or Redis in backend/redis). It keeps no state of
// its own that a crash could lose: every change is one atomic step in the
// store. Any number of Queue and Worker values, in any number of processes
// sharing a store, may work on the same queue.
//
// # Basics
//
// Add a job with Queue.Add (or many in one step with Queue.AddBulk), and run
// jobs with a Worker: its handler gets the job and a context that is
// cancelled when the job's timeout passes or the worker stops hard. A
// handler's error makes the attempt fail; the job is retried with backoff
// until its attempts run out, unless the error is wrapped with Unrecoverable.
// Priorities read as in BullMQ: smaller numbers run first, and 0, the
// default, is the highest.
//
// # Typed jobs, routing and middleware
//
// A job's arguments can be a Go type that implements Args: its Kind is the
// job's name. AddArgs adds a job of such a type, its arguments encoded as
// the job's data (JSON unless the type has a Codec), and Handle makes the
// Route that decodes them for a handler of that type. A Router serves the
// routes of many kinds with one worker. Data that does not decode fails
// its job at once (ErrDecode); a name no route serves fails the attempt
// (ErrNoHandler).
//
// Middleware wraps handlers, on a worker (WorkerOptions.Middleware) and on
// a route, for logging, metrics, tracing and limits; Timeout and Recover
// are built in. NewMultiWorker serves several queues with one worker, by
// weight or in strict priority. Worker.RunNext runs one job on the
// caller's goroutine, as the test helpers of package drovertest do.
//
// # Caveats
//
// A job is held by one worker at a time under a lease that the worker renews
// while the handler runs. A handler that outlives its timeout plus the
// worker's grace period is abandoned: its lease is given up, the attempt is
// recorded as failed, and whatever it returns later is discarded. Handlers
// should watch their context.
package queue
