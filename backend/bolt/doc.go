// Package bolt is drover's embedded store: a backend.Full kept in one bbolt
// file that one process owns at a time.
//
// # Basics
//
// Open a file with [Open]; the file is created with mode 0600. A second
// process that opens the same file gets an error wrapping backend.ErrLocked
// once [Options.LockTimeout] has passed, never a hang.
//
// Open checks an existing file before bbolt maps it, because bbolt trusts
// its file and panics, in a goroutine no caller can recover, on a page
// that is not what it expects. Every page in use must lie inside the
// file, be the page its parent names and hold its elements inside it; no
// page may be used twice; the trees must be in key order and of the shape
// bbolt's writes keep; and drover's buckets must be where it reads them
// (filecheck.go). A damaged file (truncated, overwritten, or not a store
// file at all) gets an error matching backend.ErrCorrupt and is left as
// it is. The check reads every page in use once, as bbolt itself does at
// Open to rebuild the freelist that drover does not write, and costs
// about as much: for a file of a million jobs (144 MB), about 0.17 s
// each, so Open takes about twice as long as before. One damaged meta page of the two is what a crash during a
// commit leaves: the store opens as of the commit the other one records,
// and [Options.Logger] gets a warning. A directory, or a file in a
// directory that does not exist, gets a *backend.ValidationError, as does
// a missing file when [Options.NoCreate] is set, which tools that inspect
// a store use so that a mistyped path creates nothing.
//
// Every state change runs in a bbolt write transaction together with the
// events that describe it, and is fsynced before the call returns (unless
// [Options.NoSync] is set). Writes from many goroutines are group-committed:
// one committer goroutine takes every request queued, runs them all in one
// transaction, commits, answers them, and starts the next transaction with
// whatever queued meanwhile. It waits only to keep steady callers
// together: when recent commits saw more requests than have queued, it
// gathers until that many have, for at most a quarter of the last
// commit's duration (0.5 ms at most). A lone caller never waits.
//
// A transaction that makes jobs ready also leases them to the Lease calls
// blocked on their queue, first come first served, which receive them when
// that commit is durable, without a commit of their own (see handoff.go).
//
// # Layout
//
// Each queue has a top-level bucket "q:<name>" holding:
//
//   - jobs: job ID → encoded record. IDs the store assigns (decimal, from the
//     queue's sequence) are keyed as 0x00 followed by the big-endian number,
//     so new jobs append; caller-chosen IDs (never all digits, never a
//     control character) are keyed by their bytes.
//   - one index per state, value the job ID: waiting (priority, seq),
//     delayed (run time, seq), active (lease expiry, seq), waiting-children
//     (seq), completed and failed (finish time, seq).
//   - events in segments (big-endian ID of a segment's first event → its
//     encoded events; see events.go), logs (job key, 0x00, line number →
//     line), schedulers (ID → encoded record) and meta (job sequence, last
//     event ID, paused flag, count per state).
//   - places, from the queue's first group: job key → the key its record
//     lies under in jobs instead of its job key, near the records of the
//     jobs that run at about the same time (see places.go). A queue with
//     places writes its meta record in a format of its own, which earlier
//     versions refuse.
//   - jobmeta, from the queue's first job with metadata: job key → the
//     job's Meta, written when the job is added and kept out of its
//     record, which every move writes again (see jobmeta.go).
//   - deps: the children of the queue's flow parents, kept out of the
//     parents' records (see flow.go). Under a parent's job key, the number
//     of its children still pending; under the parent's job key, 0x00, the
//     child's queue, 0x00 and the child's job key, the child's entry: its
//     place among the children as they were added and, once it ended, its
//     outcome. A parent's entries are in its own queue, wherever its
//     children are; its keys are contiguous, its count first.
//
// No hot path scans a bucket: every step seeks in an index, so the cost per
// job grows with the logarithm of the backlog. A flow child's end reads
// its parent's record and writes its own entry and the parent's count,
// whatever the number of its siblings; the parent's record is written only
// when the parent changes state. Reading a parent (Job, Jobs, or Lease of
// the parent) collects its entries, in the order the children were added.
//
// Every record starts with the format version (codecVersion). Open refuses
// a file whose queues are in another format with an error wrapping
// backend.ErrUnsupported; no format is promised to be read by a later
// release.
//
// # Caveats
//
// A request is all or nothing even though it shares its transaction with
// others. Each operation first reads and checks everything it needs and
// returns its errors before it writes; after the first write it can fail
// only on a storage error. The committer counts writes: if a request fails
// after writing (or panics), the shared transaction is rolled back and every
// request of the batch runs again alone in its own transaction, so the
// failing one fails alone and the others are applied. Operations are
// therefore pure functions of the stored state and may run twice.
//
// Wake-ups of blocked Lease and Events calls are in-process only: bbolt
// allows one process per file.
//
// bbolt keeps no checksums of its pages. A record overwritten in place
// with bytes that keep the page's shape passes the check at Open; drover
// finds it when it decodes the record, and the call fails with
// backend.ErrCorrupt, or not at all when the bytes still decode.
package bolt
