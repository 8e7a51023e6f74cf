// Package admin serves a drover store's administration over HTTP, so that
// the drover command (or any program) can inspect and operate the queues
// of a store that another process has open.
//
// A bbolt file is open in one process at a time: while an application
// runs its workers on it, `drover` cannot open it (backend.ErrLocked).
// The application mounts [Handler] instead, and the command talks to it
// through [Client], which is a backend store like the others, so the
// command runs the same code against either:
//
//	h := admin.Handler(store, nil)
//	srv, err := admin.ListenUnix(ctx, admin.SocketPath("jobs.db"), h) // jobs.db.sock, mode 0600
//	...
//	defer srv.Close()
//
// and then, from a terminal, `drover --bolt jobs.db queues`: when the file
// is locked, drover looks for the socket next to it. A Redis store needs
// no endpoint (every process can reach Redis), but can serve one too.
//
// # The protocol
//
// Each store method is one POST to /v1/<method> (for example
// /v1/counts) with a JSON body of its arguments, {"queue": …, "id": …,
// "req": {…}}, and a JSON reply, {"result": …}. A failed call replies
// with an HTTP status and {"error": {"code": …, "message": …}}, where
// code names one of the backend sentinels ("not_found", "wrong_state",
// …; see [Code]) and the typed errors keep their fields, so errors.Is and
// errors.As work through the client as they do on the store.
//
// Only administration is served: reading jobs, counts, logs, schedulers
// and events, retrying, promoting, changing, cancelling and removing
// jobs, pausing, draining, cleaning and obliterating queues, removing
// schedulers, publishing events and listing queues, reading and releasing
// deduplication keys, setting limits and holds, and limiting, pausing
// and listing groups. What workers and
// producers do (Add, Lease, Renew, Settle, CompareAndUpsert,
// UpdateProgress, AddLog) fails on the client with ErrUnsupported: run
// workers with the store itself.
//
// # Security
//
// The endpoint has no authentication: whoever reaches it can remove every
// job. Never expose it to a network. By default [Handler] answers only
// calls from a Unix socket or a loopback address (127.0.0.1, ::1), and
// refuses the others with "denied"; it accepts only POSTs of
// application/json, which a web page of another origin cannot send
// without the browser asking first, so a page the operator visits cannot
// drive it. A Unix socket is the better choice: [ListenUnix] makes it
// readable and writable by its owner only. Behind a reverse proxy that
// authenticates, set HandlerOptions.AllowRemote.
package admin
