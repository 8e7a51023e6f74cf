// Package dashboard serves a web dashboard of a drover store: its queues
// with their counts and throughput, the jobs of each state, one job with
// its data, result, error, logs and flow, the job schedulers, and the live
// event stream; with actions to retry, promote, cancel and remove jobs,
// retry and clean in bulk, pause and resume queues and remove schedulers.
//
// An application mounts it in its own server with one line:
//
//	mux.Handle("/drover/", http.StripPrefix("/drover", dashboard.Handler(store, nil)))
//
// and `drover dashboard` serves it for a bbolt file or a Redis server.
//
// # How it is built
//
// The pages are HTML rendered on the server with html/template, which
// escapes everything that comes from job data; every file they need is
// embedded in the binary. One small script asks before an action that
// destroys data and keeps the counts and the event list live from a
// server-sent event stream (GET stream), which follows each queue's
// event log: counts are read again when events say they changed, never
// by polling the job listings. So there is no build step, no client
// framework to keep up with, and a page costs one or two reads of the
// store: every listing reads one page of it, so a queue of a million
// jobs is as quick to show as one of ten. Searching by name reads up to
// a thousand jobs of a state at a time, and the page offers the next
// thousand.
//
// Every link is relative to the page, so the handler works under any
// prefix; mount it with http.StripPrefix as above. The stream holds its
// response open: a server that serves the dashboard must not time
// responses out (http.Server's WriteTimeout), or the page reconnects
// each time it does.
//
// # Paths
//
//	GET  /                                    the queues
//	GET  /queues/{queue}?state=&offset=&q=    the jobs of a state, a page at a time, or searched
//	GET  /queues/{queue}/jobs/{id}            one job
//	GET  /queues/{queue}/schedulers           the job schedulers
//	GET  /queues/{queue}/events               the event log, live
//	GET  /stream?queue=&events=1&after=       server-sent events: counts, rate, job
//	POST /queues/{queue}/jobs/{id}/{retry|promote|cancel|remove}
//	POST /queues/{queue}/{pause|resume|retry|promote|clean}
//	POST /queues/{queue}/schedulers/{id}/remove
//
// # Security
//
// The dashboard has no login: whoever reaches it sees every job's data
// and, unless Options.ReadOnly is set, can remove every job. Serve it on
// loopback (as `drover dashboard` does by default) or behind something
// that authenticates. Its actions are guarded against other sites: each
// is a POST that must carry the handler's random token, which only a
// page of the dashboard holds, and that the browser marks as coming from
// the same origin (http.CrossOriginProtection); the pages forbid being
// framed by another site and run no script but the dashboard's own
// (Content-Security-Policy).
package dashboard
