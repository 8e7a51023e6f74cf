// Package redis is drover's Redis store, for many worker processes on many
// machines. It works with a plain client, a Sentinel failover client or a
// Cluster client of go-redis v9.
//
// # Basics
//
// Every state change is one Lua script over the keys of one queue. The
// scripts are lua/*.lua, each naming the parts of lua/parts it uses
// ("--- @include"); the loader puts the generated lua/layout.lua, those
// parts and the script's body together. On Redis 7 the scripts are one
// function library (every part once, a function per script), named by a
// hash of its text, loaded by the first call and again after the server
// lost it, and called with FCALL; on Redis 6, on Cluster (where a library
// would have to reach every master), where the user may not use functions
// and where the server refuses the library, each runs with EVALSHA,
// re-loaded on NOSCRIPT. All keys of a queue share the hash tag
// {prefix:queue}, or {prefix:tag} for a queue that Options.SlotTag places
// under tag (its keys then start "{prefix:tag}[queue]:"), and scripts
// touch only keys passed in KEYS, so the same scripts run on Redis
// Cluster. A queue has a fixed set of keys, defined once in
// internal/layout, so no script builds a key name from data:
//
//	{p:q}:meta  hash: seq (job numbers), ev (last event ID), back and
//	            front (places in the ready order), paused, the queue's
//	            limits: conc, rate, per (ms) and hold (ms), and its
//	            groups: groups (grouped mode), the limits of each group
//	            gconc, grate and gper (ms), gseq (places in the ring) and
//	            groom (the jobs the groups may start now)
//	{p:q}:j     hash: job ID -> job record, fixed when the job is added
//	{p:q}:h     hash: job ID -> hot record, what changes as the job lives;
//	            a waiting job nothing has touched has none
//	{p:q}:w     list of waiting jobs of priority 0, in the order they run
//	            (empty in grouped mode)
//	{p:q}:p     sorted set of waiting jobs of priority 1 and more (in
//	            grouped mode, of every priority), score priority*2^31 +
//	            place in the line of that priority
//	{p:q}:d     sorted set of delayed jobs, score due time (ms)
//	{p:q}:a     sorted set of active jobs, score lease expiry (ms)
//	{p:q}:c     sorted set of completed jobs, score finish time (ms)
//	{p:q}:f     sorted set of failed jobs, score finish time (ms)
//	{p:q}:wc    sorted set of flow parents waiting for children, score
//	            job number
//	{p:q}:e     stream of events: one entry per script call, whose ID "n-0"
//	            names its last event n
//	{p:q}:wake  list of wake tokens for idle leasers
//	{p:q}:logs  hash: job ID "\n" line number -> log line
//	{p:q}:o     list: outbox of notices to flow parents in other queues
//	{p:q}:s     hash: scheduler ID -> scheduler record
//	{p:q}:st    sorted set of the last starts of a rate-limited queue
//	            (their lease tokens), score start time (ms)
//	{p:q}:deps  hash: parent ID "\n" child queue "\n" child ID -> "" while
//	            that dependency is pending, the child's outcome once it
//	            ended; a dropped dependency has no field
//	{p:q}:dd    hash: deduplication key -> its entry: the job that took
//	            it, its mode and expiry, and an add kept to run after
//	            the job; whether it still holds is decided when it is read
//	{p:q}:ddx   sorted set of the deduplication keys with a TTL, score
//	            expiry (ms), so that adds sweep the entries that ran out
//	{p:q}:g     hash: group name -> the group's record: its waiting and
//	            active jobs, paused, its place in the ring, its wake
//	            time and its room; in grouped mode
//	{p:q}:gx    sorted set, every score 0, ordered by member: the group
//	            index, whose members say by their first byte what they
//	            are: the groups by name, each group's line of waiting
//	            jobs, the wake entries and the starts of rate-limited
//	            groups
//	{p:q}:gr    sorted set: the ring, the groups that may start a job
//	            now, score their place in it
//	{p:q}:r:<request id>  string, one per recent write call: what a resend
//	            of the call needs to rebuild its reply; expires after
//	            seconds
//
// A job is a field of the j hash and, once anything happened to it, one of
// the h hash: records of length-prefixed fields that Lua and Go both read
// without another codec, each leaving out its trailing empty fields. There
// is no key per job, and a lease or settle rewrites only the small hot
// record. Jobs of equal priority run in the order they became ready; a job
// recovered from a stalled worker or released runs before them. A flow
// parent's hot record counts its pending children, so a child's end costs
// the same however many siblings it has.
//
// # Resends
//
// go-redis sends a command again when the connection fails after the
// command was written, so the server may run a call twice. Every script
// call that writes carries a request ID of its own, and keeps under
// {p:q}:r:<id>, for a short time, what the reply can be rebuilt from; a
// resend of the call then changes nothing and gets the first run's reply.
// The store stops go-redis from resending a write call once that time
// could run out: the call fails with backend.ErrUnavailable instead. See
// resend.go for the timings.
//
// # Waiting
//
// A Lease with a Wait that finds no job blocks on BLPOP of the queue's
// wake list. Each script that makes jobs ready pushes one token per ready
// job (never more tokens than ready jobs plus one), so an add of N jobs
// lets up to N idle leasers through, in every process. The lease script
// returns the earliest due time of a delayed job or lease expiry, and the
// wait ends then at the latest, so a delayed job that falls due is taken
// on time. Events with a Wait block on XREAD. Each blocking wait holds a
// connection of the client's pool: make the pool larger than the number of
// concurrent waits (workers times their leasing goroutines, plus event
// readers). A wait lasts at most a second per command and is repeated, so
// the client's read timeout need not be raised.
//
// # Limits
//
// A queue's limits are fields of its meta hash, which the lease script
// reads anyway (whether the queue is paused), so a queue without limits
// costs no extra command. With limits the lease script takes only what
// they allow: no more jobs than the concurrency limit less the active
// ones, none while a hold lasts, and under a rate limit no more than it
// allows in the window that ends now; st keeps the start times the window
// needs (at most the rate). The scripts that wake leasers push no more
// tokens than the limits let jobs start, and a script in which jobs leave
// active wakes leasers of a queue with a concurrency limit. A lease that
// the limits keep from taking a job returns when the hold or the rate
// next allows a start, and the Lease waits until then on the store's
// clock. Times are whole milliseconds: a rate period or hold that is not
// is rounded up.
//
// # Groups
//
// A queue enters grouped mode at its first job with a group (or its
// first SetGroupLimits or PauseGroup), and stays in it until Obliterate.
// Its waiting jobs then all live in p, whatever their priority, and each
// also in its group's line in gx, ordered by its score in p; the jobs
// without a group are one more group. The ring (gr) holds the groups
// that may start a job now, in the order they are served: a lease takes
// the first job of the first group, then moves that group to the back,
// or out of the ring when it has no job left, is paused or has reached
// its concurrency limit; a group that reached its rate limit leaves it
// with a wake entry for when it may start again, which the next lease
// after that time applies, and a Lease that only group limits keep back
// returns that time. One part (lua/parts/groups.lua) keeps the lines,
// the ring and the records in step with every move of a job, through
// the few functions every script uses to move jobs in and out of
// waiting and active; and one part (lua/parts/window.lua) holds the
// sliding window of both the queue's and the groups' rate limits. Wake
// tokens are bounded by groom, the jobs the groups may start now, so an
// add to a group at its limit wakes nobody, and a job that leaves active
// in such a group wakes one leaser. A queue that never had a group reads
// the one meta field that says so in a read it makes anyway.
//
// # Time
//
// Scripts take the time from the caller's Clock (passed as an argument),
// never from the server, so tests can move time. Processes sharing a queue
// therefore rely on their clocks agreeing: a clock that runs ahead by s
// recovers leases s early and promotes delayed jobs s early. Keep the lease
// TTL much larger than the skew between machines (NTP keeps it to
// milliseconds; TTLs are seconds).
//
// # Flows and Cluster
//
// A flow is added by one script that takes the key sets of every queue in
// the tree. On a non-cluster client (plain or Sentinel) flows may span
// queues. On a *goredis.ClusterClient they may span the queues that share
// a slot (Options.SlotTag); a flow across queues of different slots fails
// with an error wrapping backend.ErrUnsupported before anything is
// written. Flows within one queue work everywhere.
//
// A child that ends tells its parent in the same script when the parent is
// in the same queue. Otherwise the script appends a notice to the child
// queue's outbox, and the Go side applies it to the parent's queue with an
// idempotent script, then removes it. Every Lease and Settle that sees a
// non-empty outbox delivers it, so a crash between the two steps heals on
// the next call. This works on Cluster too: each step touches one slot.
//
// # Replicas and Cluster failovers
//
// With Options.WaitReplicas, a write script call runs in a pipeline with
// WAIT on one connection to the master (on Cluster, of the node that
// serves the queue's slot, following MOVED and ASK itself), so that the
// WAIT counts the replicas that have that very write; too few give
// ErrNotDurable. Lease and renew calls do not wait. A Cluster node that
// refuses a call without running it (TRYAGAIN, CLUSTERDOWN, or MOVED and
// ASK past go-redis's MaxRedirects) gets it again, with a backoff, until
// the call's deadline; a failed call makes the Cluster client reload its
// slot map, which go-redis does not do when a master has gone.
//
// # Transactions
//
// InTx adds jobs as part of the application's own MULTI/EXEC transaction
// (client.TxPipelined, or TxPipelined inside client.Watch): they exist if
// and only if EXEC runs the transaction. Redis does not roll back a
// transaction whose command failed, so the add checks everything it can in
// Go before it queues one EVAL of the add script (never EVALSHA, which
// could fail with NOSCRIPT after the application's commands ran). Its
// result is known once EXEC has run. On Cluster the application's keys of
// the transaction must be in the queue's slot: Backend.HashTag gives the
// hash tag to put in them.
//
// # Caveats
//
// Removing a flow parent removes its descendants in the same queue that are
// not active and detaches the active ones; descendants in other queues stay
// and find no parent to report to. Obliterate removes the queue's keys but
// its job and event counters (so no ID is used twice) and its outbox: a
// pending child in the obliterated queue tells its parent in another queue
// that it is gone, while children in other queues of a parent in the
// obliterated queue report to nobody.
package redis
