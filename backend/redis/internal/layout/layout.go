// Package layout is the one definition of how the Redis store keeps a
// queue: the keys of a queue, the fields of its records, and the codes its
// scripts and its Go code share. The Go side reads the definitions here;
// the Lua side reads lua/layout.lua, which Lua renders from them and `go
// generate` writes (a test fails when that file is stale).
//
// Records are lists of length-prefixed fields ("<len>:<bytes>" one after
// the other), and a record leaves out its trailing fields that are empty:
// a field it does not have reads as "", which is each field's default.
package layout

import (
	"fmt"
	"strings"

	"github.com/droverhq/drover/backend"
)

// Keys of a queue, in the order of a key set: every script that works on
// a queue takes these keys, all with the hash tag {prefix:queue}.
const (
	KeyMeta            = iota // hash: seq (job numbers), ev (last event ID), back and front (ready order), paused, the limits: conc, rate, per (ms) and hold (until, ms), and the groups: groups, gconc, grate, gper, gseq and groom
	KeyJobs                   // hash: job ID -> job record, the fields fixed when the job is added
	KeyHot                    // hash: job ID -> the job's life so far, absent while a job waits untouched
	KeyWaiting                // list: waiting jobs of priority 0, in the order they run
	KeyPrioritized            // sorted set: waiting jobs of priority 1 and more, score PriorityScore
	KeyDelayed                // sorted set: delayed jobs by due time (ms)
	KeyActive                 // sorted set: active jobs by lease expiry (ms)
	KeyCompleted              // sorted set: completed jobs by finish time (ms)
	KeyFailed                 // sorted set: failed jobs by finish time (ms)
	KeyWaitingChildren        // sorted set: flow parents waiting for children, by job number
	KeyEvents                 // stream: one entry per script call, whose ID "n-0" names its last event n
	KeyWake                   // list: wake tokens for idle leasers
	KeyLogs                   // hash: job ID "\n" line number -> log line
	KeyOutbox                 // list: notices to flow parents in other queues
	KeySchedulers             // hash: scheduler ID -> scheduler record
	KeyStarts                 // sorted set: the last starts (lease tokens) of a rate-limited queue, by start time (ms)
	KeyDeps                   // hash: parent ID "\n" child queue "\n" child ID -> "" while pending, then the child's outcome
	KeyDedup                  // hash: deduplication key -> its entry (Dedup fields)
	KeyDedupExpiry            // sorted set: the deduplication keys with a TTL, by expiry (ms)
	KeyGroups                 // hash: group name -> the group's record (Group fields), in grouped mode
	KeyGroupIndex             // sorted set, all scores 0, ordered by member: the groups' names, lines, wake times and starts (see GroupIndex)
	KeyRing                   // sorted set: the groups that may start a job now, in the order they are served, score their place (GroupPlace)
	NumKeys
)

// KeySuffixes name the keys of a queue: key k of queue q is
// "{prefix:q}:" + KeySuffixes[k].
var KeySuffixes = [NumKeys]string{
	KeyMeta: "meta", KeyJobs: "j", KeyHot: "h", KeyWaiting: "w", KeyPrioritized: "p", KeyDelayed: "d",
	KeyStarts: "st",
	KeyActive: "a", KeyCompleted: "c", KeyFailed: "f", KeyWaitingChildren: "wc", KeyEvents: "e",
	KeyWake: "wake", KeyLogs: "logs", KeyOutbox: "o", KeySchedulers: "s", KeyDeps: "deps",
	KeyDedup: "dd", KeyDedupExpiry: "ddx", KeyGroups: "g", KeyGroupIndex: "gx", KeyRing: "gr",
}

// keyNames are the names of the keys in Lua's key set tables.
var keyNames = [NumKeys]string{
	KeyMeta: "meta", KeyJobs: "j", KeyHot: "h", KeyWaiting: "w", KeyPrioritized: "p", KeyDelayed: "d",
	KeyStarts: "st",
	KeyActive: "a", KeyCompleted: "c", KeyFailed: "f", KeyWaitingChildren: "wc", KeyEvents: "e",
	KeyWake: "wake", KeyLogs: "logs", KeyOutbox: "o", KeySchedulers: "s", KeyDeps: "deps",
	KeyDedup: "dd", KeyDedupExpiry: "ddx", KeyGroups: "g", KeyGroupIndex: "gx", KeyRing: "gr",
}

// Fields of a job record (the j hash), set when the job is added and not
// changed after, but for Children, from which a dropped child is removed.
// A job with a store-assigned ID has no Seq: its ID is its number.
const (
	JobName = iota
	JobData
	JobCreated // ms
	JobSeq
	JobParentQueue
	JobParentID
	JobChildren // list of child queue "\n" child ID
	JobPriority
	JobAttempts
	JobBackoff // list of type, delay ms, jitter
	JobTimeout // ms
	JobKeepCompleted
	JobKeepFailed // lists of remove ("1" or ""), count, age ms
	JobPolicy
	JobScheduler
	JobMeta  // list of key, value, … in key order; after the options, so a job without metadata costs nothing
	JobDedup // the deduplication key; after the options, so a job without one costs nothing
	JobGroup // the job's group; last, so a job without one costs nothing
	NumJobFields
)

var jobFieldNames = [NumJobFields]string{
	JobName: "name", JobData: "data", JobCreated: "created", JobSeq: "seq", JobParentQueue: "parent_queue",
	JobParentID: "parent_id", JobChildren: "children", JobPriority: "priority", JobAttempts: "attempts",
	JobBackoff: "backoff", JobTimeout: "timeout", JobKeepCompleted: "keep_completed", JobKeepFailed: "keep_failed",
	JobPolicy: "policy", JobScheduler: "scheduler", JobMeta: "meta", JobDedup: "dedup", JobGroup: "group",
}

// Fields of a job's hot record (the h hash): what changes as the job
// lives, in the order that leaves the fewest trailing fields on the
// common states. A job that has no hot record is waiting, untouched.
const (
	HotState        = iota // a state code
	HotMade                // attempts made
	HotToken               // lease token, while active
	HotLeaseExpires        // ms, while active
	HotWorker
	HotProcessed // ms
	HotFinished  // ms
	HotRunAt     // ms: when a delayed job falls due
	HotStalled
	HotResult
	HotReason
	HotStack // list of lines
	HotProgress
	HotLogs         // the number of log lines
	HotPending      // the number of children not ended, for a flow parent
	HotCancel       // "1" when Cancel marked the active job
	HotCancelReason // the reason Cancel was given
	NumHotFields
)

var hotFieldNames = [NumHotFields]string{
	HotState: "state", HotMade: "made", HotToken: "token", HotLeaseExpires: "lease_expires", HotWorker: "worker",
	HotProcessed: "processed", HotFinished: "finished", HotRunAt: "run_at", HotStalled: "stalled",
	HotResult: "result", HotReason: "reason", HotStack: "stack", HotProgress: "progress", HotLogs: "logs",
	HotPending: "pending", HotCancel: "cancel", HotCancelReason: "cancel_reason",
}

// Fields of a scheduler record (the s hash).
const (
	SchedID = iota
	SchedRevision
	SchedRepeat
	SchedTemplate // a job record of the template's name, data and options
	SchedIterations
	SchedNext // ms
	SchedUpcoming
	SchedFinal // "1" when Upcoming holds every remaining run time
	SchedUpdated
	NumSchedFields
)

var schedFieldNames = [NumSchedFields]string{
	SchedID: "id", SchedRevision: "revision", SchedRepeat: "repeat", SchedTemplate: "template",
	SchedIterations: "iterations", SchedNext: "next", SchedUpcoming: "upcoming", SchedFinal: "final",
	SchedUpdated: "updated",
}

// Fields of a deduplication key's entry (the dd hash). The entry names
// the job that took the key; whether it still holds it the scripts decide
// when they read it (see dedup.lua in lua/parts).
const (
	DedupJob     = iota // the job that took the key
	DedupMode           // a backend.DedupMode
	DedupExpires        // ms: when the key lets go at the latest ("" never)
	DedupKeep           // "1" for KeepLastIfActive
	DedupNext           // an add kept to run when the job finishes: a list of its place, head and options
	NumDedupFields
)

var dedupFieldNames = [NumDedupFields]string{
	DedupJob: "job", DedupMode: "mode", DedupExpires: "expires", DedupKeep: "keep", DedupNext: "next",
}

// Fields of a group's record (the g hash), in a queue in grouped mode.
// A group has a record while it has jobs waiting or active, is paused,
// is in the ring or has starts in its rate window; the jobs without a
// group are the group UngroupedName, whose active jobs are not counted
// (no group limit applies to them).
//
// Unlike the other records, a group's record is all its fields joined
// by GroupSep: they are decimal numbers or empty, and every lease and
// settle of a grouped job reads and writes one, which a script then
// splits with one pattern match rather than field by field.
const (
	GroupReady  = iota // its waiting jobs
	GroupActive        // its active jobs
	GroupPaused        // "1" while paused
	GroupPlace         // its place in the ring (its score in KeyRing, from the gseq counter), "" while out of it
	GroupWake          // ms: its wake entry's time, "" when it has none
	GroupRoom          // how many jobs it may start now, as of its last change: its part of groom
	NumGroupFields
)

var groupFieldNames = [NumGroupFields]string{
	GroupReady: "ready", GroupActive: "active", GroupPaused: "paused", GroupPlace: "place", GroupWake: "wake",
	GroupRoom: "room",
}

// GroupSep joins the fields of a group's record.
const GroupSep = ":"

// UngroupedName is the name under which a queue in grouped mode keeps
// its jobs without a group: a group name has no control character, so
// no group has it.
const UngroupedName = "\x00"

// GroupIndex: the gx sorted set of a queue in grouped mode holds, each
// member starting with a letter that says what it is,
//
//	'n' name                          a group with a record (not ungrouped), for listing in name order
//	'l' name 0x00 score id            a waiting job in its group's line; score is its score in p
//	'w' time name                     a group's wake entry: when its rate limit next lets it start, or when it can be forgotten
//	's' name 0x00 time 0x00 n         a start of a rate-limited group within the rate period
//
// Numbers are zero-padded decimals of fixed width, so that the order of
// members is the order of the numbers: scores PlaceDigits wide, times
// (ms) TimeDigits wide. The ring, which every lease and settle of a
// grouped job changes, is a sorted set of its own (KeyRing), scored by
// place: small, and without the padded numbers.
const (
	PlaceDigits = 16
	TimeDigits  = 13
)

// Fields of a flow child's outcome, kept in the deps hash once it ended.
const (
	OutcomeState = iota // a state code: completed or failed
	OutcomeResult
	OutcomeReason
	OutcomeIgnored // "1" when the parent went on despite the failure
	NumOutcomeFields
)

var outcomeFieldNames = [NumOutcomeFields]string{
	OutcomeState: "state", OutcomeResult: "result", OutcomeReason: "reason", OutcomeIgnored: "ignored",
}

// StateCodes are the one-byte codes of the job states in hot records and
// outcomes.
var StateCodes = map[backend.JobState]string{
	backend.StateWaiting: "w", backend.StateDelayed: "d", backend.StateActive: "a",
	backend.StateCompleted: "c", backend.StateFailed: "f", backend.StateWaitingChildren: "p",
}

// EventCodes are the one-byte codes of the event types in the stream.
var EventCodes = map[backend.EventType]string{
	backend.EventAdded: "a", backend.EventWaiting: "w", backend.EventDelayed: "d", backend.EventPrioritized: "p",
	backend.EventActive: "A", backend.EventProgress: "g", backend.EventCompleted: "c", backend.EventFailed: "f",
	backend.EventRetrying: "r", backend.EventStalled: "s", backend.EventRemoved: "x", backend.EventDuplicated: "u",
	backend.EventWaitingChildren: "W", backend.EventPaused: "P", backend.EventResumed: "R", backend.EventDrained: "D",
	backend.EventCleaned: "C", backend.EventSchedulerUpserted: "S", backend.EventSchedulerRemoved: "X",
	backend.EventRetried: "T", backend.EventPromoted: "o", backend.EventChanged: "h", backend.EventCancelled: "k",
	backend.EventSnoozed: "z", backend.EventPublished: "b", backend.EventDeduplicated: "U",
	backend.EventLimitsChanged: "L", backend.EventRateLimited: "l", backend.EventGroupLimitsChanged: "G",
	backend.EventGroupPaused: "v", backend.EventGroupResumed: "V",
}

// Fields of an event in a stream entry, after its type code: the job ID,
// name and attempts made, then x, empty or the list of the extra fields.
const (
	EventExtraResult = iota
	EventExtraReason
	EventExtraProgress
	EventExtraRunAt
	EventExtraScheduler
	EventExtraCount
	EventExtraData
	EventExtraKey
	EventExtraGroup
	NumEventExtras
)

var eventExtraNames = [NumEventExtras]string{
	EventExtraResult: "result", EventExtraReason: "reason", EventExtraProgress: "progress",
	EventExtraRunAt: "run_at", EventExtraScheduler: "scheduler", EventExtraCount: "count", EventExtraData: "data",
	EventExtraKey: "key", EventExtraGroup: "group",
}

// Errors are the codes with which a script's error reply starts, and the
// sentinels the Go side turns them into.
var Errors = []struct {
	Code     string
	Sentinel error
}{
	{"DROVER_NOTFOUND", backend.ErrNotFound},
	{"DROVER_ACTIVE", backend.ErrJobActive},
	{"DROVER_ITERATION", backend.ErrSchedulerIteration},
	{"DROVER_REVISION", backend.ErrRevisionMismatch},
	{"DROVER_CONFLICT", backend.ErrConflict},
	{"DROVER_LEASELOST", backend.ErrLeaseLost},
	{"DROVER_WRONGSTATE", backend.ErrWrongState},
}

// Ready order. Waiting jobs of priority 0 are a list, run from its head:
// a job that becomes ready (added, promoted, due again after a retry, a
// parent whose children ended) is pushed at its tail, and one recovered
// from a stalled worker or released at its head. Waiting jobs of a higher
// priority number are a sorted set scored PriorityScore, in the same
// order within a priority: the back and front counters of the meta hash
// give each its place.
const (
	// PriorityShift makes room, under each priority, for the places of
	// 2^30 jobs at the back and 2^30 at the front of its line, so that the
	// score of the largest priority (backend.MaxPriority, 2^21) stays an
	// exact number (2^53). A place counts modulo that: after 2^30 jobs of
	// one queue have been made ready with a priority above 0, the order
	// within a priority wraps around once.
	PriorityShift = 1 << 31
	OrderHalf     = 1 << 30
)

// Lua renders lua/layout.lua.
func Lua() string {
	var b strings.Builder
	b.WriteString("-- layout.lua: the layout of a queue, generated from the Go package\n")
	b.WriteString("-- backend/redis/internal/layout by `go generate`; do not edit.\n\n")
	fmt.Fprintf(&b, "-- NK is the number of keys of a queue's key set; K holds the keys of the\n")
	b.WriteString("-- call, set by begin.\n")
	fmt.Fprintf(&b, "local NK = %d\nlocal K\n\n", NumKeys)
	b.WriteString("-- keyset returns the keys of key set number set (1-based) of the call,\n")
	b.WriteString("-- named, with the queue's name.\n")
	b.WriteString("local function keyset(set, name)\n  local o = (set - 1) * NK\n  return {\n    name = name,\n")
	for k, n := range keyNames {
		fmt.Fprintf(&b, "    %s = K[o + %d],\n", n, k+1)
	}
	b.WriteString("  }\nend\n\n")
	fields := func(comment, prefix string, names []string) {
		fmt.Fprintf(&b, "-- %s\n", comment)
		for i, n := range names {
			fmt.Fprintf(&b, "local %s_%s = %d\n", prefix, strings.ToUpper(n), i+1)
		}
		fmt.Fprintf(&b, "local %s_N = %d\n\n", prefix, len(names))
	}
	// A Lua function has at most 200 locals (and Lua in Go, as in
	// miniredis, fewer registers), and a script's main function holds
	// the layout's and the parts' as well as its own: the fields of the
	// records that the common transitions do not read are each one table
	// (S.ID rather than S_ID).
	table := func(comment, prefix string, names []string) {
		fmt.Fprintf(&b, "-- %s\nlocal %s = {", comment, prefix)
		for i, n := range names {
			fmt.Fprintf(&b, "%s = %d, ", strings.ToUpper(n), i+1)
		}
		fmt.Fprintf(&b, "N = %d}\n\n", len(names))
	}
	fields("Fields of a job record.", "J", jobFieldNames[:])
	fields("Fields of a job's hot record.", "H", hotFieldNames[:])
	table("Fields of a scheduler record.", "S", schedFieldNames[:])
	table("Fields of a deduplication key's entry.", "D", dedupFieldNames[:])
	table("Fields of a flow child's outcome.", "O", outcomeFieldNames[:])
	table("Fields of a group's record.", "G", groupFieldNames[:])
	table("Extra fields of an event.", "X", eventExtraNames[:])
	codes := func(comment, name string, m map[string]string, order []string) {
		fmt.Fprintf(&b, "-- %s\nlocal %s = {", comment, name)
		for i, k := range order {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "[%q] = %q", k, m[k])
		}
		b.WriteString("}\n")
	}
	states, stateCodes, stateOrder := map[string]string{}, map[string]string{}, []string{}
	for _, s := range backend.States {
		states[string(s)] = StateCodes[s]
		stateCodes[StateCodes[s]] = string(s)
		stateOrder = append(stateOrder, string(s))
	}
	codes("State codes, by state.", "STATE_CODE", states, stateOrder)
	var codeOrder []string
	for _, s := range stateOrder {
		codeOrder = append(codeOrder, states[s])
	}
	codes("States, by code.", "CODE_STATE", stateCodes, codeOrder)
	for _, s := range backend.States {
		fmt.Fprintf(&b, "local ST_%s = %q\n", strings.ToUpper(strings.ReplaceAll(string(s), "-", "_")), StateCodes[s])
	}
	b.WriteString("\n")
	evs, evOrder := map[string]string{}, []string{}
	for _, e := range eventOrder {
		evs[string(e)] = EventCodes[e]
		evOrder = append(evOrder, string(e))
	}
	codes("Event codes, by type.", "EV_CODE", evs, evOrder)
	b.WriteString("\n-- Error codes of script error replies.\n")
	for _, e := range Errors {
		fmt.Fprintf(&b, "local ERR_%s = %q\n", strings.TrimPrefix(e.Code, "DROVER_"), e.Code)
	}
	b.WriteString("\n-- The ready order (see Go).\n")
	fmt.Fprintf(&b, "local PRIORITY_SHIFT = %d\nlocal ORDER_HALF = %d\n\n", PriorityShift, OrderHalf)
	fmt.Fprintf(&b, "-- Texts and bounds of the backend package.\nlocal STALLED_REASON = %q\nlocal ITERATION_PREFIX = %q\n", backend.StalledReason, backend.IterationPrefix)
	fmt.Fprintf(&b, "local CANCELLED_REASON = %q\nlocal MAX_BULK = %d\n", backend.CancelledReason, backend.MaxBulk)
	fmt.Fprintf(&b, "\n-- Groups: the name of the jobs without a group, the widths of the\n-- numbers in the group index, and the separator of a group's fields.\nlocal GROUPS = {UNGROUPED = \"\\%d\", PLACE_DIGITS = %d, TIME_DIGITS = %d, SEP = %q}\n",
		UngroupedName[0], PlaceDigits, TimeDigits, GroupSep)
	fmt.Fprintf(&b, "\n-- Deduplication modes and outcomes.\nlocal DEDUP = {THROTTLE = %q, DEBOUNCE = %q, IGNORED = %q, REPLACED = %q, DEFERRED = %q}\n",
		backend.DedupThrottle, backend.DedupDebounce, backend.DedupIgnored, backend.DedupReplaced, backend.DedupDeferred)
	return b.String()
}

// eventOrder lists the event types in the order of their codes in Lua.
var eventOrder = []backend.EventType{
	backend.EventAdded, backend.EventWaiting, backend.EventDelayed, backend.EventPrioritized, backend.EventActive,
	backend.EventProgress, backend.EventCompleted, backend.EventFailed, backend.EventRetrying, backend.EventStalled,
	backend.EventRemoved, backend.EventDuplicated, backend.EventWaitingChildren, backend.EventPaused,
	backend.EventResumed, backend.EventDrained, backend.EventCleaned, backend.EventSchedulerUpserted,
	backend.EventSchedulerRemoved, backend.EventRetried, backend.EventPromoted, backend.EventChanged,
	backend.EventCancelled, backend.EventSnoozed, backend.EventPublished, backend.EventDeduplicated,
	backend.EventLimitsChanged, backend.EventRateLimited, backend.EventGroupLimitsChanged, backend.EventGroupPaused,
	backend.EventGroupResumed,
}
