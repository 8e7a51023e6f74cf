package redis

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/droverhq/drover/backend"
	"github.com/droverhq/drover/backend/redis/internal/layout"
)

//go:generate go run ./internal/layoutgen

//go:embed lua/*.lua lua/parts/*.lua
var luaFS embed.FS

var _ backend.Full = (*Backend)(nil)

// Backend is a drover store on Redis. It is safe for concurrent use.
type Backend struct {
	client  goredis.UniversalClient
	opts    Options
	scripts *scripts
	cluster bool

	// Resent calls (see resend.go): write calls are named by reqs, run
	// under a deadline of window, and keep their summaries for replyTTL
	// ms ("0": not at all).
	reqs     *requestIDs
	window   time.Duration
	replyTTL string

	keys   sync.Map // queue name -> []string, the queue's key set
	adders sync.Map // queue name -> *addQueue

	closed  atomic.Bool
	closing chan struct{}
	mu      sync.Mutex     // orders wg.Add against Close's wg.Wait
	wg      sync.WaitGroup // background waits
}

// New returns a store that keeps its queues in the Redis server (or
// Sentinel or Cluster deployment) that client talks to. The caller owns
// client: Close does not close it. Blocking waits (Lease and Events with
// a Wait) each hold one connection of the client's pool while they wait,
// so the pool must be larger than the number of concurrent waits.
func New(client goredis.UniversalClient, opts *Options) (*Backend, error) {
	if client == nil {
		return nil, backend.Invalid("client", "no Redis client")
	}
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := checkWait(client, &o); err != nil {
		return nil, err
	}
	_, cluster := client.(*goredis.ClusterClient)
	// On Cluster a function library would have to be loaded on every
	// master, and again on each new one; scripts load where they run.
	sc, err := newScripts(cluster, o.wrapScript, o.Logger)
	if err != nil {
		return nil, err
	}
	window, ttl := resendBounds(client)
	b := &Backend{
		client:   client,
		opts:     o,
		scripts:  sc,
		cluster:  cluster,
		reqs:     newRequestIDs(),
		window:   window,
		replyTTL: strconv.FormatInt(ttl.Milliseconds(), 10),
		closing:  make(chan struct{}),
	}
	return b, nil
}

// Close marks the store closed and waits for its background waits to end.
// It does not close the Redis client.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	close(b.closing)
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// spawn runs fn on a goroutine that Close waits for. It reports false,
// and does not run fn, once the store is closed.
func (b *Backend) spawn(fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// queueKeys returns the key set of a queue (see internal/layout): every
// key starts with the queue's hash tag, as "{prefix:queue}:j" for a queue
// in a slot of its own and "{prefix:tag}[queue]:j" for one that
// Options.SlotTag places under tag. The character after the tag tells
// the two apart, and neither a queue name nor a key suffix has a brace
// or "]:" in it, so no two queues share a key.
func (b *Backend) queueKeys(queue string) []string {
	if k, ok := b.keys.Load(queue); ok {
		return k.([]string)
	}
	head := b.HashTag(queue) + ":"
	if b.slotTag(queue) != "" {
		head = b.HashTag(queue) + "[" + queue + "]:"
	}
	k := make([]string, layout.NumKeys)
	for i, s := range layout.KeySuffixes {
		k[i] = head + s
	}
	b.keys.Store(queue, k)
	return k
}

func (b *Backend) key(queue string, k int) string { return b.queueKeys(queue)[k] }

// check reports ErrClosed after Close and validates the queue name and
// its slot tag.
func (b *Backend) check(queue string) error {
	if b.closed.Load() {
		return backend.ErrClosed
	}
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	return b.checkTag(queue)
}

// slotTag returns the tag Options.SlotTag gives queue, or "" for a queue
// of its own slot.
func (b *Backend) slotTag(queue string) string {
	if b.opts.SlotTag == nil {
		return ""
	}
	return b.opts.SlotTag(queue)
}

// checkTag validates the slot tag of queue, if it has one.
func (b *Backend) checkTag(queue string) error {
	tag := b.slotTag(queue)
	if tag == "" {
		return nil
	}
	if err := backend.ValidateQueueName(tag); err != nil {
		var v *backend.ValidationError
		reason := err.Error()
		if errors.As(err, &v) {
			reason = v.Reason
		}
		return backend.Invalid("SlotTag", fmt.Sprintf("slot tag %q of queue %q: %s", tag, queue, reason))
	}
	return nil
}

func (b *Backend) now() int64 { return b.opts.Clock.Now().UnixMilli() }

// header returns the leading script arguments (see lib.lua): now, event
// retention, the reply TTL ("0" for a call that keeps nothing), and room
// for the script's own.
func (b *Backend) header(now int64, ttl string, more int) []any {
	argv := make([]any, 4, 4+more)
	argv[0], argv[1], argv[2], argv[3] = now, b.opts.EventRetention.Count, b.opts.EventRetention.Age.Milliseconds(), ttl
	return argv
}

// run runs a script that writes over one queue's key set, as a call of
// its own that a resend does not apply again (see resend.go).
func (b *Backend) run(ctx context.Context, script, queue string, args ...any) (any, error) {
	argv := append(append(b.header(b.now(), b.replyTTL, 1+len(args)), queue), args...)
	return b.write(ctx, script, queue, b.reqs.next(), b.queueKeys(queue), argv)
}

// write runs a script that writes as call id: keys are its key sets, to
// which write adds the call's reply key, in the slot of queue.
func (b *Backend) write(ctx context.Context, script, queue, id string, keys []string, argv []any) (any, error) {
	keys = append(keys[:len(keys):len(keys)], b.replyKey(queue, id))
	ctx, cancel := context.WithTimeout(ctx, b.window)
	defer cancel()
	res, err := b.retryUnstable(ctx, func() (any, error) {
		if b.opts.WaitReplicas > 0 && script != "lease" && script != "renew" {
			return b.runDurable(ctx, script, keys, argv)
		}
		return b.scripts.run(ctx, b.client, script, keys, argv...)
	})
	return res, b.failed(err)
}

// retryUnstable calls call, and on Cluster calls it again while a node
// refused to run it: TRYAGAIN (a slot is moving, and the call's keys are
// on both nodes), CLUSTERDOWN (the cluster is failing a master over), and
// MOVED or ASK after go-redis followed MaxRedirects of them (a slot in
// the middle of a move sends a call back and forth). The call did not
// run, so it is safe to send it again, until ctx ends or the resend
// window (which bounds a write call anyway) has passed. go-redis retries
// these too, but only MaxRedirects times within a few tens of
// milliseconds, while a slot's move or a failover takes longer.
func (b *Backend) retryUnstable(ctx context.Context, call func() (any, error)) (any, error) {
	end := time.Now().Add(b.window)
	for try := 0; ; try++ {
		res, err := call()
		if err == nil || !b.cluster || !refused(err) || time.Now().After(end) {
			return res, err
		}
		t := time.NewTimer(min(25*time.Millisecond<<min(try, 4), 400*time.Millisecond))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return res, err
		}
	}
}

// refused reports the errors of a Cluster node that did not run a
// command (see retryUnstable).
func refused(err error) bool {
	msg := err.Error()
	for _, p := range []string{"TRYAGAIN", "CLUSTERDOWN", "MOVED ", "ASK "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// runRepeatable runs a script that may run twice over one queue's key
// set: one that only reads, or one whose second run changes nothing. It
// keeps nothing for a resend.
func (b *Backend) runRepeatable(ctx context.Context, script, queue string, args ...any) (any, error) {
	argv := append(append(b.header(b.now(), "0", 1+len(args)), queue), args...)
	res, err := b.retryUnstable(ctx, func() (any, error) {
		if b.opts.WaitReplicas > 0 && script == "notify" {
			// The one repeatable script that writes: its notice must
			// last before the outbox entry that holds it goes.
			return b.runDurable(ctx, script, b.queueKeys(queue), argv)
		}
		return b.scripts.run(ctx, b.client, script, b.queueKeys(queue), argv...)
	})
	return res, b.failed(err)
}

// failed translates err, what a command of the store's returned, and on
// Cluster asks the client to reload its slot map after a failure that may
// come from a failover: go-redis reloads it on a MOVED reply, but not when
// the master it sends to has gone, and otherwise only every
// ClusterStateReloadInterval (a minute by default).
func (b *Backend) failed(err error) error {
	err = translate(err)
	if b.cluster && errors.Is(err, backend.ErrUnavailable) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrNotDurable) {
		b.client.(*goredis.ClusterClient).ReloadState(context.Background())
	}
	return err
}

// storeError is a go-redis error translated into one of drover's
// sentinels. Its message is the sentinel's and what drover adds (a
// script's words without their code); it unwraps to both the sentinel and
// the go-redis error.
type storeError struct {
	sentinel error
	detail   string
	cause    error
}

func (e *storeError) Error() string {
	if e.detail == "" {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.detail
}

func (e *storeError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// translate is the one place that turns go-redis errors into drover's
// sentinels, keeping the cause.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if se := (*storeError)(nil); errors.As(err, &se) {
		return err // translated already
	}
	if errors.Is(err, goredis.Nil) {
		return &storeError{sentinel: backend.ErrNotFound, cause: err}
	}
	if errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("%w: %w", backend.ErrClosed, err)
	}
	msg := err.Error()
	for _, e := range layout.Errors {
		if i := strings.Index(msg, e.Code); i >= 0 {
			return &storeError{sentinel: e.Sentinel, detail: strings.TrimSpace(msg[i+len(e.Code):]), cause: err}
		}
	}
	if denied(msg) {
		return &storeError{sentinel: backend.ErrDenied, cause: err,
			detail: msg + " (check the Redis client's username and password, and that the user's ACL allows drover's commands: FCALL or EVALSHA, and the keys of the prefix)"}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "MASTERDOWN") ||
		strings.HasPrefix(msg, "CLUSTERDOWN") || strings.HasPrefix(msg, "TRYAGAIN") ||
		strings.Contains(msg, "connection pool timeout") {
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	}
	return fmt.Errorf("drover: redis: %w", err)
}

// translateMissing is translate for a read of one record: a missing one is
// ErrNotFound, with what was missing in words.
func translateMissing(err error, format string, args ...any) error {
	if errors.Is(err, goredis.Nil) {
		return &storeError{sentinel: backend.ErrNotFound, detail: fmt.Sprintf(format, args...), cause: err}
	}
	return translate(err)
}

// denied reports a server error that refuses the caller: no or wrong
// credentials, or a command or key the user's ACL does not allow. An
// unauthenticated connection that sends a long command gets a protocol
// error instead of NOAUTH.
func denied(msg string) bool {
	for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.Contains(msg, "unauthenticated")
}

// toStrings converts a script reply of bulk strings and integers.
func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, len(a))
	for i, x := range a {
		switch x := x.(type) {
		case string:
			out[i] = x
		case int64:
			out[i] = itoa(x)
		}
	}
	return out
}

func durMs(d time.Duration) int64 { return d.Milliseconds() }
