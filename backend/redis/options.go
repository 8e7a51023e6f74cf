package redis

import (
	"cmp"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/droverhq/drover/backend"
)

// Options configure a Backend. The zero value is ready to use.
type Options struct {
	// Clock gives every time stamp the store writes and every timed wait.
	// All processes sharing a queue must have clocks that agree to well
	// within the lease TTL. Defaults to backend.SystemClock().
	Clock backend.Clock
	// EventRetention bounds each queue's event log. Defaults to keeping
	// the newest 100,000 events of each queue.
	EventRetention backend.EventRetention
	// Logger receives reports of background trouble, such as a lost
	// connection while waiting. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxPayload limits job data, results, progress and log lines, in
	// bytes. Defaults to backend.DefaultMaxPayload.
	MaxPayload int
	// Prefix starts every key, as in "{prefix:queue}:j". It may not
	// contain a colon, a brace, a space or a control character: queue
	// names may contain colons, and the first colon of the hash tag must
	// end the prefix, so that no two (prefix, queue) pairs share keys.
	// Defaults to "drover".
	Prefix string
	// SlotTag, if set, places queues in shared Redis Cluster slots: the
	// queues for which it returns the same tag keep their keys in one
	// slot, under the hash tag {prefix:tag}, so that a flow may span
	// them on Cluster (and a transaction's keys may be in their slot).
	// A queue for which it returns "" keeps a slot of its own,
	// {prefix:queue}, as without SlotTag. A tag follows the rules of a
	// queue name. SlotTag must always give a queue the same tag, and
	// every process that shares the queues must use the same SlotTag,
	// as they use the same Prefix: a queue placed under another tag is
	// another queue, and its jobs are not seen. The queues of one slot
	// live on one master, so put together only queues that flows join.
	// On a single server or behind Sentinel it changes only key names.
	SlotTag func(queue string) string
	// WaitReplicas, if above 0, makes every write that the store
	// acknowledges wait until that many replicas have it: after the
	// script, on the same connection to the master that ran it, the
	// store sends Redis's WAIT, and returns only once enough replicas
	// have acknowledged the write or WaitTimeout has passed. If fewer
	// did, the call returns an error matching ErrNotDurable (and
	// backend.ErrUnavailable): the master applied the write, but a
	// failover may lose it. Adds, settles, scheduler upserts, admin
	// writes, progress and logs wait, and so does a flow child's notice
	// to its parent in another queue; leases and lease renewals do not
	// (losing one only lets a job run again, which can happen anyway:
	// at least once), and nor do adds in the application's own
	// transactions (InTx), which the application can follow with WAIT
	// itself. The client must be a *goredis.Client (a single server or
	// a Sentinel failover client) or a *goredis.ClusterClient. 0, the
	// default, waits for no replica: an acknowledged write that had not
	// reached a replica is lost if that replica takes over.
	WaitReplicas int
	// WaitTimeout bounds each wait for replicas (WaitReplicas). It must
	// be shorter than the client's ReadTimeout, which bounds reading the
	// reply of the script and the wait together. Defaults to one second.
	WaitTimeout time.Duration

	// wrapScript, when set, rewrites each script's source before it is
	// loaded (tests use it to watch the keys scripts touch).
	wrapScript func(string) string
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Clock == nil {
		c.Clock = backend.SystemClock()
	}
	c.EventRetention = c.EventRetention.OrDefault()
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.MaxPayload = cmp.Or(c.MaxPayload, backend.DefaultMaxPayload)
	c.Prefix = cmp.Or(c.Prefix, "drover")
	c.WaitTimeout = cmp.Or(c.WaitTimeout, time.Second)
	return c
}

func (o *Options) validate() error {
	switch {
	case o.MaxPayload < 0:
		return backend.Invalid("MaxPayload", "negative payload limit")
	case o.WaitReplicas < 0:
		return backend.Invalid("WaitReplicas", "negative number of replicas")
	case o.WaitTimeout < 0:
		return backend.Invalid("WaitTimeout", "negative timeout")
	case o.EventRetention.Validate() != nil:
		return o.EventRetention.Validate()
	case strings.IndexFunc(o.Prefix, func(r rune) bool {
		return r == ':' || r == '{' || r == '}' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0:
		return backend.Invalid("Prefix", fmt.Sprintf("prefix %q contains a colon, brace, space or control character", o.Prefix))
	}
	return nil
}
