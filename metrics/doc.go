// Package metrics exports drover's queues to Prometheus.
//
// It has two parts, to register together or apart:
//
//   - A Collector reads the store on each scrape: the jobs of each queue in
//     each state, whether the queue is paused, the position and length of
//     its event log, the lag of event subscribers, and totals of jobs
//     added, completed, failed, cancelled, retried and stalled. The
//     totals come from the queue's event log, so they count what every
//     process did, not just this one; each scrape reads only the events
//     appended since the one before.
//   - HandlerMetrics is worker middleware that observes, in the process
//     that runs the jobs, how long each job waited to start and how long
//     each attempt ran, by queue, job name and outcome.
//
// Only a program that imports this package links the Prometheus client;
// the rest of drover does not depend on it.
package metrics
