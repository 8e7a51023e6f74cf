// Package backend is drover's storage SPI: the interface a store implements,
// the records it keeps, and the errors it reports.
//
// A store does every state change as one atomic step (a bbolt write
// transaction, one Redis Lua script), so the queue package above it holds no
// state that a crash could lose. The core interface, [Backend], covers adding,
// leasing, renewing and settling jobs and reading them back. Further
// capabilities are separate interfaces that a store may implement and callers
// find by type assertion, in the way of database/sql/driver: [Admin],
// [JobUpdater], [SchedulerStore] and [EventLog]. A caller that needs a
// capability the store lacks reports [ErrUnsupported].
//
// # Basics
//
// Methods have the form (ctx, queue, *XxxRequest) (XxxResult, error). Records
// returned by a store belong to the caller; the store keeps no reference to
// them. Times come from the [Clock] the store was opened with, never from the
// wall clock directly, so tests can move time instead of sleeping.
//
// A job moves through the states of [JobState]. A worker takes ready jobs with
// [Backend.Lease]; each leased job carries a [Lease] (job ID and token) with a
// deadline. The worker extends the deadline with [Backend.Renew] while its
// handler runs and ends the attempt with [Backend.Settle]. A lease whose
// deadline passed is recovered by the next Lease call on that queue: the job
// is stalled and goes back to waiting, or fails after
// [LeaseRequest.MaxStalled] recoveries.
//
// # Caveats
//
// Every method that changes state also appends the events that describe the
// change, in the same atomic step. Settle and Renew act only while the lease
// token still holds; a stale token changes nothing and reports
// [ErrLeaseLost].
package backend
