package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
)

// InTx returns the application's MULTI/EXEC transaction pipe as a
// backend.Tx: an Add queues the add of its jobs on pipe, so that they are
// added when EXEC runs, with the application's other commands, and not at
// all when it does not (the transaction was discarded, or WATCH saw a
// watched key change). pipe is the Pipeliner that client.TxPipelined
// passes to its function, or that (*goredis.Tx).TxPipelined passes inside
// client.Watch, of a client of the server (or Cluster) that the store's
// client talks to. A plain pipeline (client.Pipelined) is no transaction:
// its adds would apply whatever became of the other commands.
//
// Redis never rolls back: a command of a transaction that fails when EXEC
// runs it leaves the others applied. So Add checks everything that can be
// checked before EXEC in Go, before it queues anything: the request, as
// Backend.Add checks it (an invalid one fails with backend.ErrInvalid), a
// closed store, an ended ctx, and what the script would find out only when
// it runs (below). An Add that returns an error has queued nothing, and
// the application may still commit its own commands. An Add that
// succeeds has queued one command, an EVAL of the add script's text. It is
// not EVALSHA or FCALL, which a server that never had the script, flushed
// it or restarted would refuse when EXEC runs (NOSCRIPT) while running the
// application's commands; EVAL sends the text (about 24 KB) with every
// transaction, and the server compiles it once and caches it.
//
// The one check the script would make on the server's data is whether a
// flow child's caller-chosen ID is taken (backend.ErrConflict); since that
// error would come after the transaction's other commands ran, Add refuses
// a flow child with a caller-chosen ID with backend.ErrUnsupported. A
// top-level job whose caller-chosen ID exists is no error: as with
// Backend.Add, the result reports the existing job as a duplicate. Nor is
// a deduplication key that holds: what it does (make no job, replace the
// data of the job that holds it, keep the add for later) is decided when
// EXEC runs, from the data then, and the result reports it.
//
// Backend.Add gives each call a request ID and a reply key, so that a call
// go-redis sends again after a lost reply applies once (see resend.go). A
// transaction's add needs neither, and keeps nothing: go-redis sends a
// MULTI/EXEC again only when it did not run, because writing it failed
// (the server runs nothing of a transaction before EXEC, and discards it
// with the connection) or, on Cluster, a node redirected it; never once it
// may have run. An
// application that runs its transaction again after an unknown outcome
// (a lost connection) makes new adds; jobs with caller-chosen IDs are then
// reported as duplicates instead of being added twice.
//
// A job's delay counts from the store clock's time at Add, not at EXEC.
// Idle leasers are woken when EXEC runs, as by Backend.Add: the script
// pushes their wake tokens, and the server serves blocked commands after
// the transaction.
//
// On Redis Cluster every key of a transaction must be in one slot. The
// add's keys are in the queue's slot, so a flow across queues fails with
// backend.ErrUnsupported, as Backend.Add does; the application's keys
// must be in the queue's slot too: put HashTag(queue) in them. go-redis
// (since v9.11; drover requires v9.23) refuses a TxPipelined whose keys
// span slots as a whole with goredis.ErrCrossSlot and sends nothing (v9.10
// and older split it into a transaction per slot); under Watch the
// transaction goes to the node of the watched keys, and the server refuses
// to run one whose keys span slots (CROSSSLOT at EXEC), or to queue a
// command for a slot it does not serve (MOVED, then EXECABORT at EXEC).
// Either way nothing is applied, and the add's Result fails with
// backend.ErrNotCommitted (for keys that span slots, backend.ErrInvalid
// too). Add cannot find this out itself: pipe.Cmds shows the commands
// queued so far, not which of their arguments are keys (go-redis takes
// that from the server's COMMAND table), and not the commands queued
// after the add.
func (b *Backend) InTx(pipe goredis.Pipeliner) backend.Tx {
	return &tx{b: b, pipe: pipe}
}

// HashTag returns the Redis Cluster hash tag of queue's keys,
// "{prefix:queue}", or "{prefix:tag}" for a queue that Options.SlotTag
// places under tag: a key that contains it, with no "{" before it, is in
// the queue's slot, as in "order:" + HashTag(queue) + ":42". A
// transaction that adds jobs to queue on Cluster (InTx) must have all its
// keys there. Do not start a key with the tag: those keys are the store's.
// Elsewhere than on Cluster the tag does no harm.
func (b *Backend) HashTag(queue string) string {
	if tag := b.slotTag(queue); tag != "" {
		return "{" + b.opts.Prefix + ":" + tag + "}"
	}
	return "{" + b.opts.Prefix + ":" + queue + "}"
}

type tx struct {
	b    *Backend
	pipe goredis.Pipeliner
}

var _ backend.Tx = (*tx)(nil)

func (t *tx) Backend() backend.Backend { return t.b }

func (t *tx) Add(ctx context.Context, queue string, req *backend.AddRequest) (backend.TxAdd, error) {
	if t.pipe == nil {
		return nil, backend.Invalid("Tx", "no transaction pipeline")
	}
	queues, nodes, err := t.b.planAdd(ctx, queue, req)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.parent > 0 && n.job.ID != "" {
			return nil, fmt.Errorf("%w: flow child %s/%s has a caller-chosen ID, which a Redis transaction cannot check before its other commands run",
				backend.ErrUnsupported, queues[n.set-1], n.job.ID)
		}
	}
	keys, argv := t.b.addArgs(queues, nodes, "0")
	cmd := t.b.scripts.eval["add"].Eval(ctx, t.pipe, keys, argv...)
	return &txAdd{req: req, queue: queue, queues: queues, nodes: nodes, cmd: cmd}, nil
}

// txAdd is an add queued in a transaction: its reply is in cmd once EXEC
// has run.
type txAdd struct {
	req    *backend.AddRequest
	queue  string
	queues []string
	nodes  []addNode
	cmd    *goredis.Cmd
}

// Result returns what the add did once the transaction ran. Call it after
// TxPipelined (or Exec) has returned, on the goroutine that called it or
// one that synchronizes with it: it reads the reply go-redis stored.
func (a *txAdd) Result() (backend.AddResult, error) {
	res, err := a.cmd.Result()
	if err != nil {
		return backend.AddResult{}, txError(err)
	}
	if res == nil {
		// Every reply of the script is a value; a command that has none
		// (and no error) was not sent: the transaction has not run yet,
		// or was discarded before it ran.
		return backend.AddResult{}, fmt.Errorf("%w: add to %s: the transaction has not run", backend.ErrNotCommitted, a.queue)
	}
	out, err := addReply(a.queue, a.nodes, res)
	if err != nil {
		return backend.AddResult{}, err
	}
	return assemble(a.req, a.queues, a.nodes, out), nil
}

// txError translates the error of an add queued in a transaction. The
// errors that say the transaction did not run are backend.ErrNotCommitted:
// go-redis's TxFailedErr (a watched key changed), EXECABORT (the server
// discarded it because a command was refused when queued), MOVED or ASK
// (the add itself was refused so: its slot is not the node's) and
// CROSSSLOT (its keys span Cluster slots, which the application can mend:
// backend.ErrInvalid too). The others are translate's: an error of the
// script (the transaction ran, and the add wrote nothing), or a lost
// connection (backend.ErrUnavailable: it may have run).
func txError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, goredis.TxFailedErr):
		return &storeError{sentinel: backend.ErrNotCommitted, detail: "a watched key changed", cause: err}
	case strings.HasPrefix(msg, "EXECABORT"), strings.HasPrefix(msg, "MOVED "), strings.HasPrefix(msg, "ASK "):
		return &storeError{sentinel: backend.ErrNotCommitted, detail: msg, cause: err}
	case strings.HasPrefix(msg, "CROSSSLOT"):
		return &storeError{sentinel: backend.ErrNotCommitted,
			detail: "the transaction's keys are in more than one Redis Cluster slot; put them in the queue's slot (Backend.HashTag)",
			cause:  &backend.ValidationError{Index: -1, Field: "Tx", Reason: "keys in more than one Redis Cluster slot", Err: err}}
	}
	return translate(err)
}
